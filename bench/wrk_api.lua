-- wrk script for bench/api.sh. The mode comes from the environment (BENCH_MODE):
--
--   get       plain GET of the URL given to wrk (no per-request Lua: request/response stay nil)
--   create    POST /v1/IpRecords, a unique IpAddress per request (10.a.b.c from a counter), counts
--             responses by status; runs for wrk's -d
--   load-ip   like create, but exactly BENCH_COUNT requests, and writes the "sid" of every 201 to
--             BENCH_OUT/sids-<thread>.txt; a thread stops itself when its share is answered
--   load-map  POST /v1/SourceIpMappings IpRecordSid=<each SID in BENCH_SIDS>&SipDomainSid=BENCH_DOMAIN,
--             once per SID; a thread stops itself when its share is answered
--
-- Other environment: BENCH_WRK_THREADS (= wrk -t), BENCH_IP_OFFSET (first counter value),
-- BENCH_FILLER (path of a GET answering 200, sent by a thread that has issued its whole share but
-- still has connections waiting), BENCH_OUT (folder for load-* files).
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
   if mode == "create" then
      quota = nil
   elseif mode == "load-ip" then
      local count = tonumber(os.getenv("BENCH_COUNT"))
      -- this thread takes the counter values tid, tid + T, tid + 2T, ... below count
      quota = math.floor(count / nthreads) + ((tid < count % nthreads) and 1 or 0)
      sid_file = assert(io.open(os.getenv("BENCH_OUT") .. "/sids-" .. tid .. ".txt", "w"))
   elseif mode == "load-map" then
      domain = os.getenv("BENCH_DOMAIN")
      mine = {}
      local n = 0
      for line in io.lines(os.getenv("BENCH_SIDS")) do
         if n % nthreads == tid and #line > 0 then mine[#mine + 1] = line end
         n = n + 1
      end
      quota = #mine
   end
end

local function filler_request()
   return wrk.format("GET", filler, nil, nil)
end

function request()
   if skip_first then
      skip_first = false
      return filler_request()
   end
   if quota and issued >= quota then
      return filler_request()
   end
   local k = issued
   issued = issued + 1
   if mode == "load-map" then
      return wrk.format("POST", "/v1/SourceIpMappings", post_headers,
                        "IpRecordSid=" .. mine[k + 1] .. "&SipDomainSid=" .. domain)
   end
   return wrk.format("POST", "/v1/IpRecords", post_headers, ip_body(offset + k * nthreads + tid))
end

function response(status, headers, body)
   if quota and status == 200 then
      return -- a filler GET (no POST of ours answers 200)
   end
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   answered = answered + 1
   if sid_file and status == 201 then
      local sid = string.match(body, '"sid"%s*:%s*"(IL%x+)"')
      if sid then sid_file:write(sid, "\n") end
   end
   if quota and answered >= quota then
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
