-- W4: PUT /todos/<random id> {"score":{"$inc":1}}
dofile(os.getenv("BENCH_DIR") .. "/wrk/ids.lua")
init = function() load_ids() end
request = function()
  return wrk.format("PUT", "/todos/" .. random_id(), {["Content-Type"] = "application/json"}, '{"score":{"$inc":1}}')
end
