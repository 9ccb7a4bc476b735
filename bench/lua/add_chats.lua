-- add_chats: a two-message turn (the question and the reply) per request, every request its
-- own request_id; BENCH_USERS users, one session each (as add_chat.lua).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local users = tonumber(os.getenv("BENCH_USERS") or "64")
local run = os.getenv("BENCH_RUN") or "run"
local counter = 0
local headers = {["Content-Type"] = "application/json"}

function request()
    counter = counter + 1
    local u = (counter * 7 + tid) % users
    local body = string.format(
        '{"request_id":"%s-%d-%d","user_id":"bench-%d","session_id":"s-%d","chats":['
        .. '{"role":"user","msg":"今天天气不错，帮我写一首关于秋天的短诗，四句就好。"},'
        .. '{"role":"ai","msg":"秋风起，落叶黄；雁南飞，稻花香。","meta":{"model":"bench","tokens":42}}]}',
        run, tid, counter, u, u)
    return wrk.format("POST", "/add_chats", headers, body)
end
