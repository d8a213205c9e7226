-- wrk: GET /api/v1/leads?status=new&page=1&limit=10, the first page of a status filter
-- (LEADD_KEY; see common.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
local req

setup = common.setup
done = common.done

function init(args)
    common.init_thread(thread_id)
    local headers = common.headers()
    headers["Content-Type"] = nil
    req = wrk.format("GET", "/api/v1/leads?status=new&page=1&limit=10", headers)
end

function request()
    return req
end
