-- W6: 80 % reads (W1/W2 alternating), 20 % writes (W3/W4 alternating)
dofile(os.getenv("BENCH_DIR") .. "/wrk/ids.lua")
init = function() load_ids() end
local w2 = "/todos?%7B%22score%22%3A%7B%22%24gt%22%3A500%7D%2C%22%24sort%22%3A%7B%22score%22%3A-1%7D%2C%22%24limit%22%3A20%7D"
local n = 0
request = function()
  n = n + 1
  local k = n % 10
  if k < 4 then return wrk.format("GET", "/todos/" .. random_id())
  elseif k < 8 then return wrk.format("GET", w2)
  elseif k == 8 then
    return wrk.format("POST", "/todos", {["Content-Type"] = "application/json"}, '{"title":"mix ' .. n .. '","score":5}')
  else
    return wrk.format("PUT", "/todos/" .. random_id(), {["Content-Type"] = "application/json"}, '{"score":{"$inc":1}}')
  end
end
