-- M2: logins of one user, never logged out (each creates a session)
wrk.method = "POST"
wrk.path = "/users/login"
wrk.body = '{"username":"m2","password":"m2-password"}'
wrk.headers["Content-Type"] = "application/json"
