-- wrk: seeds leads through POST /api/v1/leads and writes each created id to
-- "$LEADD_IDS_OUT.<thread>", one per line. Each thread stops itself after LEADD_SEED_COUNT /
-- threads creates; wrk itself runs until -d or SIGINT, so bench.py stops it once the files
-- hold enough ids. Statuses cycle through all six, so a status filter matches a sixth.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
local headers, out, quota, got, sent
local threads = 0

function setup(thread)
    common.setup(thread)
    threads = threads + 1
end

function init(args)
    common.init_thread(thread_id)
    headers = common.headers()
    local total = tonumber(os.getenv("LEADD_SEED_COUNT") or "10000")
    local nthreads = tonumber(os.getenv("LEADD_SEED_THREADS") or "1")
    quota = math.floor(total / nthreads) + ((thread_id < total % nthreads) and 1 or 0)
    out = assert(io.open(os.getenv("LEADD_IDS_OUT") .. "." .. thread_id, "w"))
    out:setvbuf("line")
    got, sent = 0, 0
end

function request()
    sent = sent + 1
    return wrk.format("POST", "/api/v1/leads", headers,
                      common.create_body(common.statuses[(sent % #common.statuses) + 1]))
end

function response(status, hdrs, body)
    if status ~= 201 or got >= quota then return end
    out:write(body:match('"id":"(lead_%x+)"'), "\n")
    got = got + 1
    if got >= quota then
        out:close()
        wrk.thread:stop()
    end
end

done = common.done
