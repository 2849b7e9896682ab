-- W1: GET /todos/<random existing id>
dofile(os.getenv("BENCH_DIR") .. "/wrk/ids.lua")
init = function() load_ids() end
request = function() return wrk.format("GET", "/todos/" .. random_id()) end
