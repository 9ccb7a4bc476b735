-- Shared by the wrk scripts: per-thread ids, and a JSON summary printed by done().
local threads = {}
local next_id = 0

function setup(thread)
    thread:set("tid", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout
    io.write(string.format(
        'WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, '
        .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
        summary.requests, summary.duration, errors, summary.errors.status,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
