-- wrk script of the end-to-end load benchmark (benchmarks/load.py); not meant to be run alone.
--
--   wrk ... -s benchmarks/load.lua URL -- HEADERS_FILE START[,START...]
--
-- HEADERS_FILE has one request per line: x-amzn-oidc-data, x-amzn-oidc-accesstoken and
-- x-amzn-oidc-identity, separated by tabs. init() only reads the lines (building 20000 requests
-- there would hold the next thread back: see "Timing"); request() builds each request the first
-- time it is sent and keeps it for the next times round. Thread k starts at line START_k (0-based; the last START given is reused
-- if there are fewer than threads) and goes through the file in order, wrapping around.
-- Responses whose status is not 200 are counted. done() prints one line,
-- "WRK_RESULT {json}", that load.py parses: the summary, latency percentiles in microseconds,
-- the non-200 count and where each thread stopped (so that the next run can go on from there).
--
-- Timing: wrk runs each thread's init() just before starting that thread, and starts its clock
-- only once every thread has started, so with several threads (and a big file to read) the
-- first threads send requests before wrk's clock runs and its requests / duration overstates
-- the rate. Each thread therefore notes, on a monotonic clock, when it sent its first request
-- and received its last response; done() reports the span from the earliest first request to
-- the latest last response ("window_us") and the responses received in it ("responses").

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } load_timespec;
int clock_gettime(int clock_id, load_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("load_timespec")

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
   return tonumber(timespec.tv_sec) * 1000000 + tonumber(timespec.tv_nsec) / 1000
end

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

-- Globals of each thread, read back by done() with thread:get().
id = 0
position = 0  -- 0-based index of the next line to send
non200 = 0
responses = 0
first_us = -1  -- when this thread sent its first request (-1: not yet)
last_us = -1  -- when it received its last response

local lines = {}  -- lines not yet turned into requests
local requests = {}  -- requests already built, by 1-based line number
local count = 0
local source = ""

local function starts_of(text)
   local starts = {}
   for number in string.gmatch(text or "0", "%d+") do
      table.insert(starts, tonumber(number))
   end
   return starts
end

function init(args)
   local path = args[1]
   if path == nil then
      error("usage: wrk ... -s load.lua URL -- HEADERS_FILE START[,START...]")
   end
   source = path
   for line in io.lines(path) do
      count = count + 1
      lines[count] = line
   end
   if count == 0 then
      error(path .. " holds no request")
   end
   local starts = starts_of(args[2])
   local start = starts[id + 1] or starts[#starts] or 0
   position = start % count
end

local function build(number)
   local line = lines[number]
   local oidc, access, identity = line:match("^([^\t]*)\t([^\t]*)\t([^\t\r]*)")
   if oidc == nil then
      error("malformed line " .. number .. " in " .. source)
   end
   lines[number] = nil
   requests[number] = wrk.format(nil, nil, {
      ["x-amzn-oidc-data"] = oidc,
      ["x-amzn-oidc-accesstoken"] = access,
      ["x-amzn-oidc-identity"] = identity,
   })
   return requests[number]
end

function request()
   if first_us < 0 then
      first_us = now_us()
   end
   local next_request = requests[position + 1] or build(position + 1)
   position = position + 1
   if position == count then
      position = 0
   end
   return next_request
end

function response(status, headers, body)
   last_us = now_us()
   responses = responses + 1
   if status ~= 200 then
      non200 = non200 + 1
   end
end

function done(summary, latency, requests)
   local bad, received, positions = 0, 0, {}
   local first, last = math.huge, -1
   for index, thread in ipairs(threads) do
      bad = bad + thread:get("non200")
      received = received + thread:get("responses")
      positions[index] = tostring(thread:get("position"))
      local thread_first, thread_last = thread:get("first_us"), thread:get("last_us")
      if thread_first >= 0 and thread_first < first then
         first = thread_first
      end
      if thread_last > last then
         last = thread_last
      end
   end
   local window = last > first and math.floor(last - first) or 0
   local errors = summary.errors
   io.write(string.format(
      'WRK_RESULT {"duration_us": %d, "window_us": %d, "requests": %d, "responses": %d, '
         .. '"bytes": %d, "non200": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d}, '
         .. '"positions": [%s]}\n',
      summary.duration, window, summary.requests, received, summary.bytes, bad,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      table.concat(positions, ", ")
   ))
end
