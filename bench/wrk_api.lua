-- wrk script for bench/api.sh. The mode comes from the environment (BENCH_MODE):
--
--   get       plain GET of the URL given to wrk (no per-request Lua: request/response stay nil)
--   create    POST /v1/IpRecords, a unique IpAddress per request (10.a.b.c from a counter), counts
--             responses by status; runs for wrk's -d
--   load-ip   like create, until this thread has BENCH_COUNT/threads 201s; writes the "sid" of every
--             201 to BENCH_OUT/sids-<thread>.txt, then the thread stops itself
--   load-map  POST /v1/SourceIpMappings IpRecordSid=<SID from BENCH_SIDS>&SipDomainSid=BENCH_DOMAIN, until
--             this thread has BENCH_COUNT/threads 201s (BENCH_SIDS should hold a few spare SIDs: a
--             request lost with a dropped connection is never answered, and a spare replaces it)
--   (a load-* thread also gives up after twice its share of answers, so a failing server ends the load)
--
-- Other environment: BENCH_WRK_THREADS (= wrk -t), BENCH_IP_OFFSET (first counter value),
-- BENCH_FILLER (path of a GET answering 200, sent when a load-map thread has run out of SIDs),
-- BENCH_OUT (folder for load-* files). A load-* thread that is done writes BENCH_OUT/done-<mode>-<thread>.
-- done() prints one line "BENCH_RESULT {json}" that api.sh parses.

local mode = os.getenv("BENCH_MODE") or "get"
local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

local function ip_body(i)
   i = i % 16777216
   return string.format("IpAddress=10.%d.%d.%d&CidrPrefixLength=32",
                        math.floor(i / 65536), math.floor(i / 256) % 256, i % 256)
end

function init(args)
   nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
   offset   = tonumber(os.getenv("BENCH_IP_OFFSET") or "0")
   issued   = 0     -- requests built by this thread (the counter behind the unique IPs)
   answered = 0     -- answers to real (non-filler) requests
   statuses = {}    -- status code (string) -> count, real requests only
   lost = 0         -- load-* modes: POSTs taken as lost (see may_post)
   fillers_in_a_row = 0
   if mode == "get" then
      request  = nil
      response = nil
      return
   end
   post_headers = {}
   for k, v in pairs(wrk.headers) do post_headers[k] = v end
   post_headers["Content-Type"] = "application/x-www-form-urlencoded"
   filler = os.getenv("BENCH_FILLER") or "/"
   -- wrk calls request() once on thread 0, before it starts, only to check that it parses; that call
   -- must not use up a counter value (in load-* modes the thread would never finish its share)
   skip_first = (tid == 0)
   quota = nil  -- answers this thread waits for (load-* modes)
   if mode == "load-ip" or mode == "load-map" then
      local count = tonumber(os.getenv("BENCH_COUNT"))
      quota = math.floor(count / nthreads) + ((tid < count % nthreads) and 1 or 0)
   end
   if mode == "load-ip" then
      sid_file = assert(io.open(os.getenv("BENCH_OUT") .. "/sids-" .. tid .. ".txt", "w"))
   elseif mode == "load-map" then
      domain = os.getenv("BENCH_DOMAIN")
      mine = {}
      local n = 0
      for line in io.lines(os.getenv("BENCH_SIDS")) do
         if #line > 0 then
            if n % nthreads == tid then mine[#mine + 1] = line end
            n = n + 1
         end
      end
   end
end

local function filler_request()
   return wrk.format("GET", filler, nil, nil)
end

-- load-* modes: a new POST only while (201s so far + POSTs in flight) < quota, so that exactly the quota
-- gets created; a POST whose connection dropped is never answered, so after a long run of filler answers
-- with nothing else in between we count one in-flight POST as lost and send another
local function may_post()
   local inflight = issued - answered - lost
   return (statuses["201"] or 0) + inflight < quota
end

function request()
   if skip_first then
      skip_first = false
      return filler_request()
   end
   if quota and not may_post() then
      return filler_request()
   end
   if mode == "load-map" then
      if issued >= #mine then
         return filler_request()
      end
      issued = issued + 1
      return wrk.format("POST", "/v1/SourceIpMappings", post_headers,
                        "IpRecordSid=" .. mine[issued] .. "&SipDomainSid=" .. domain)
   end
   local k = issued
   issued = issued + 1
   return wrk.format("POST", "/v1/IpRecords", post_headers, ip_body(offset + k * nthreads + tid))
end

function response(status, headers, body)
   if quota and status == 200 then
      -- a filler GET in a load-* mode (no POST of ours answers 200)
      fillers_in_a_row = fillers_in_a_row + 1
      if fillers_in_a_row >= 20000 and issued - answered - lost > 0 then
         lost = lost + 1
         fillers_in_a_row = 0
      end
      return
   end
   fillers_in_a_row = 0
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   answered = answered + 1
   if sid_file and status == 201 then
      local sid = string.match(body, '"sid"%s*:%s*"(IL%x+)"')
      if sid then sid_file:write(sid, "\n") end
   end
   -- done when this thread has its share of 201s (or, against a failing server, twice its share of answers)
   if quota and ((statuses["201"] or 0) >= quota or answered >= 2 * quota) then
      if sid_file then sid_file:close(); sid_file = nil end
      local f = io.open(os.getenv("BENCH_OUT") .. "/done-" .. mode .. "-" .. tid, "w")
      if f then f:write(answered, "\n"); f:close() end
      wrk.thread:stop()
   end
end

local function json_statuses(t)
   local parts = {}
   for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
   table.sort(parts)
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local agg, max_issued = {}, 0
   if mode ~= "get" then
      for _, t in ipairs(threads) do
         local s = t:get("statuses") or {}
         for k, v in pairs(s) do agg[k] = (agg[k] or 0) + v end
         local n = t:get("issued") or 0
         if n > max_issued then max_issued = n end
      end
   end
   local T = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"mode":"%s","requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"status_ge_400":%d,"socket_errors":%d,"timeouts":%d,"statuses":%s,"next_offset":%d}\n',
      mode, summary.requests, summary.duration,
      math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
      math.floor(latency:percentile(99)), math.floor(latency.max),
      e.status, e.connect + e.read + e.write, e.timeout, json_statuses(agg),
      (tonumber(os.getenv("BENCH_IP_OFFSET") or "0")) + (max_issued + 1) * T))
end
