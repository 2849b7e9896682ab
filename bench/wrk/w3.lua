-- W3: POST /todos with a small JSON body (durable write)
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/todos", {["Content-Type"] = "application/json"},
                    '{"title":"bench ' .. n .. '","done":false,"score":' .. (n % 1000) .. '}')
end
