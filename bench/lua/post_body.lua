-- The same POST body every time (a read): BENCH_PATH and BENCH_BODY.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BENCH_AUTHORIZATION") then  -- a server with auth on (bench/galera.py)
    wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
end
