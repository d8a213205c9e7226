-- wrk: POST /api/v1/leads, each with an email no other request of the run sends (unique per
-- thread, connection and request; LEADD_RUN_ID keeps them unique across runs too).
-- Needs LEADD_KEY (an API key) in the environment; see common.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
local headers

setup = common.setup
done = common.done

function init(args)
    common.init_thread(thread_id)
    headers = common.headers()
end

function request()
    return wrk.format("POST", "/api/v1/leads", headers, common.create_body())
end
