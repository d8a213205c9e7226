-- wrk: POST /api/v1/leads/batch, each carrying LEADD_BATCH (default 1000) new leads whose emails
-- no other request of the run sends; LEADD_ATOMIC=1 adds ?atomic=true. Needs LEADD_KEY.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
local headers, path
local size = tonumber(os.getenv("LEADD_BATCH") or "1000")

setup = common.setup
done = common.done

function init(args)
    common.init_thread(thread_id)
    headers = common.headers()
    path = "/api/v1/leads/batch" .. (os.getenv("LEADD_ATOMIC") == "1" and "?atomic=true" or "")
end

function request()
    local items = {}
    for i = 1, size do items[i] = common.create_body() end
    return wrk.format("POST", path, headers, '{"leads":[' .. table.concat(items, ",") .. "]}")
end
