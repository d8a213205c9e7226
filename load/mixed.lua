-- wrk: a mixed workload, per request 80% GET by id, 15% PUT update, 5% POST create, on random
-- seeded ids (LEADD_KEY, LEADD_IDS; see common.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
local ids, headers, get_headers

setup = common.setup
done = common.done

function init(args)
    common.init_thread(thread_id)
    ids = common.read_ids()
    headers = common.headers()
    get_headers = common.headers()
    get_headers["Content-Type"] = nil
end

function request()
    local r = math.random()
    if r < 0.80 then
        return wrk.format("GET", "/api/v1/leads/" .. common.random_id(ids), get_headers)
    elseif r < 0.95 then
        return wrk.format("PUT", "/api/v1/leads/" .. common.random_id(ids), headers, common.update_body())
    else
        return wrk.format("POST", "/api/v1/leads", headers, common.create_body())
    end
end
