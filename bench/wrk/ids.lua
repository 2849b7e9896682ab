-- Shared by the W1/W4/W6 scripts: loads the seeded ids (IDS_FILE) once per wrk thread.
ids = {}
function load_ids()
  for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
function random_id() return ids[math.random(#ids)] end
