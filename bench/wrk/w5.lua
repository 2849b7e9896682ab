-- W5: GET /users/me with the session cookie of a logged-in user (bench/seed.mjs writes the sid)
local sid = os.getenv("SID")
request = function() return wrk.format("GET", "/users/me", { ["Cookie"] = "sid=" .. sid }) end
