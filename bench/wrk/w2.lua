-- W2: GET /todos?{"score":{"$gt":500},"$sort":{"score":-1},"$limit":20} (URL-encoded JSON form)
local path = "/todos?%7B%22score%22%3A%7B%22%24gt%22%3A500%7D%2C%22%24sort%22%3A%7B%22score%22%3A-1%7D%2C%22%24limit%22%3A20%7D"
request = function() return wrk.format("GET", path) end
