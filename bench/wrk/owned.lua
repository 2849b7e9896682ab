-- GET $PATH_Q with the session cookie of user "bench" (bench/rules.sh): the W2 query on a collection that shows each
-- user only their own documents.
local sid = os.getenv("SID")
local path = os.getenv("PATH_Q")
request = function() return wrk.format("GET", path, { ["Cookie"] = "sid=" .. sid }) end
