-- wrk script: POST /api/v1/leads with an email unique to this run, thread and request.
-- Needs LEADD_KEY (an API key) in the environment.
local key = os.getenv("LEADD_KEY")
local next_thread = 0

function setup(thread)
    thread:set("thread_id", next_thread)
    next_thread = next_thread + 1
end

function init(args)
    math.randomseed(os.time() + thread_id * 7919)
    prefix = string.format("%d-%d-%d", os.time(), thread_id, math.random(1, 1000000000))
    counter = 0
    headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
end

function request()
    counter = counter + 1
    local body = string.format(
        '{"name":"Load Test %d","email":"lt-%s-%d@example.com","phone":"+1-555-456-7890",' ..
        '"source":"wrk","metadata":{"company":"New Tech Corp","seq":%d}}',
        counter, prefix, counter, counter)
    return wrk.format("POST", "/api/v1/leads", headers, body)
end
