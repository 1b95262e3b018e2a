-- wrk script: every request is a POST of the same JSON body, with optional bearer auth.
-- The body and the Authorization value come from the environment (set by bench/wrk.py), so
-- one script serves every cell.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
-- The Messages API (direct and through the gateway) needs it; the other targets ignore it.
wrk.headers["anthropic-version"] = "2023-06-01"
local auth = os.getenv("BENCH_AUTHORIZATION")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
