-- add_chat: every request its own request_id; BENCH_USERS users, one session each.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local users = tonumber(os.getenv("BENCH_USERS") or "64")
local run = os.getenv("BENCH_RUN") or "run"
local counter = 0
local headers = {["Content-Type"] = "application/json"}
if os.getenv("BENCH_AUTHORIZATION") then  -- a server with auth on (bench/galera.py)
    headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
end

function request()
    counter = counter + 1
    local u = (counter * 7 + tid) % users
    local body = string.format(
        '{"request_id":"%s-%d-%d","user_id":"bench-%d","session_id":"s-%d","role":"user",'
        .. '"msg":"今天天气不错，帮我写一首关于秋天的短诗，四句就好。","meta":{"model":"bench","tokens":42}}',
        run, tid, counter, u, u)
    return wrk.format("POST", "/add_chat", headers, body)
end
