-- wrk: GET /api/v1/leads/{id} on random seeded ids (LEADD_KEY, LEADD_IDS; see common.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
local ids, headers

setup = common.setup
done = common.done

function init(args)
    common.init_thread(thread_id)
    ids = common.read_ids()
    headers = common.headers()
    headers["Content-Type"] = nil
end

function request()
    return wrk.format("GET", "/api/v1/leads/" .. common.random_id(ids), headers)
end
