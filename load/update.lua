-- wrk: PUT /api/v1/leads/{id} on random seeded ids: a new status and a metadata merge
-- (LEADD_KEY, LEADD_IDS; see common.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
local ids, headers

setup = common.setup
done = common.done

function init(args)
    common.init_thread(thread_id)
    ids = common.read_ids()
    headers = common.headers()
end

function request()
    return wrk.format("PUT", "/api/v1/leads/" .. common.random_id(ids), headers, common.update_body())
end
