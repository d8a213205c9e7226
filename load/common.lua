-- Shared by the wrk scripts of load/ (loaded with dofile; each wrk thread has its own copy).
--
-- Environment:
--   LEADD_KEY     API key (required; the nginx ceiling ignores it but gets the same headers)
--   LEADD_IDS     file of seeded lead ids, one per line (get, update, mixed)
--   LEADD_RUN_ID  makes created emails unique across runs (bench.py passes one per run;
--                 defaults to the time and a random number)
--
-- done() prints one line "wrk-json: {...}" after wrk's own report: requests, errors and the
-- latency percentiles wrk's --latency does not print (p99.9), in microseconds. bench.py reads it.
local M = {}

M.statuses = {"new", "contacted", "qualified", "converted", "lost", "follow_up"}

function M.headers()
    local key = os.getenv("LEADD_KEY")
    assert(key and key ~= "", "set LEADD_KEY to an API key")
    return {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
end

-- Numbers the threads in setup() (main state), so emails can carry the thread's number.
local next_thread = 0
function M.setup(thread)
    thread:set("thread_id", next_thread)
    next_thread = next_thread + 1
end

-- Per-thread state, from init(): seeds the generator and builds the email prefix.
function M.init_thread(tid)
    math.randomseed(os.time() + tid * 7919 + math.floor(os.clock() * 1e6))
    local run = os.getenv("LEADD_RUN_ID")
    if not run or run == "" then run = string.format("%d-%d", os.time(), math.random(1, 1000000000)) end
    M.prefix = string.format("%s-%d", run, tid)
    M.created = 0
end

-- The ids are kept as one block of equal-width ids (leadd's ids all have one width), not as a
-- table of strings: LuaJIT's collector marks a table's slots in one step, and a million of
-- them pointing at a million strings stalled wrk for ~80 ms each collection cycle (at
-- 1 000 000 seeded leads, wrk's p99 for PUT was 20-40 ms while leadd's own request durations
-- stayed under 2.5 ms). And the block lives outside the Lua heap (malloc through the FFI): as one
-- 21 MB Lua string it made the live heap large, and the collector starts a cycle once the heap
-- reaches its pause (200 %) of what the last cycle left alive, so about as much again in request
-- strings piled up between cycles (an estimate from that setting) and each cycle stalled wrk
-- for milliseconds: at 1 000 000 leads wrk's own GET p99 was 9-17 ms (leadd idle in epoll a
-- quarter of the time); with the pause at 10 % instead (tried, not kept) 0.86-1.02 ms, and
-- with the block outside 0.84-0.94 ms. The heap is now the same small one at every lead count.
local ffi = require("ffi")
ffi.cdef("void *malloc(size_t size);")

function M.read_ids()
    local path = os.getenv("LEADD_IDS")
    assert(path and path ~= "", "set LEADD_IDS to a file of lead ids")
    local list = {}
    for line in io.lines(path) do
        if line ~= "" then
            list[#list + 1] = line
            assert(#line == #list[1], path .. ": ids of unequal widths (" .. list[1] .. ", " .. line .. ")")
        end
    end
    assert(#list > 0, "no ids in " .. path)
    local packed = table.concat(list)
    local block = ffi.cast("char *", ffi.C.malloc(#packed))  -- never freed: wrk's life
    assert(block ~= nil, "out of memory for " .. #packed .. " bytes of ids")
    ffi.copy(block, packed, #packed)
    local ids = {block = block, width = #list[1], count = #list}
    list, packed = nil, nil
    collectgarbage("collect")  -- the million strings go now, not in the middle of a run
    return ids
end

function M.random_id(ids)
    return ffi.string(ids.block + (math.random(1, ids.count) - 1) * ids.width, ids.width)
end

-- A create body with an email no other request of this run (any thread, any connection) sends.
function M.create_body(status)
    M.created = M.created + 1
    local n = M.created
    return string.format(
        '{"name":"Load Test %d","email":"lt-%s-%d@example.com","phone":"+1-555-456-7890",' ..
        '"source":"wrk","status":"%s","metadata":{"company":"New Tech Corp","seq":%d}}',
        n, M.prefix, n, status or "new", n)
end

-- The update of the seed page: a status and a metadata merge. The merged keys are always the
-- same two, so a lead's metadata does not grow however often it is updated.
local touches = 0
function M.update_body()
    touches = touches + 1
    return string.format(
        '{"status":"%s","metadata":{"notes":"Follow up scheduled for next week","touches":%d}}',
        M.statuses[math.random(1, #M.statuses)], touches)
end

function M.done(summary, latency, requests)
    local e = summary.errors
    local function p(q) return latency:percentile(q) end
    io.write(string.format(
        'wrk-json: {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p99_9":%d,"max":%d,"mean":%.1f}}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        p(50), p(90), p(99), p(99.9), latency.max, latency.mean))
end

return M
