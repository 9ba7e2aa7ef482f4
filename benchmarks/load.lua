-- wrk script of benchmarks/load.py:  wrk -t1 ... -s load.lua URL -- HEADERS_FILE START
-- HEADERS_FILE holds one request a line: the x-amzn-oidc-data, x-amzn-oidc-accesstoken and
-- x-amzn-oidc-identity values, tab-separated. The thread (load.py runs one) sends the lines in
-- order from line START (0-based), wrapping around, and counts the responses that are not 200.
-- done() prints one line, "WRK_RESULT {json}": wrk's figures, that count and the line to start
-- from next time (so that a fresh token comes back only after the whole file has).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

position, non200 = 0, 0 -- the thread's; done() reads them back with thread:get()
local requests = {}

function init(args)
   for line in io.lines(args[1]) do
      local oidc, access, identity = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
      assert(oidc, "malformed line in " .. args[1])
      table.insert(requests, wrk.format(nil, nil, {
         ["x-amzn-oidc-data"] = oidc,
         ["x-amzn-oidc-accesstoken"] = access,
         ["x-amzn-oidc-identity"] = identity,
      }))
   end
   position = tonumber(args[2] or "0") % #requests
end

function request()
   local next_request = requests[position + 1]
   position = (position + 1) % #requests
   return next_request
end

function response(status)
   if status ~= 200 then
      non200 = non200 + 1
   end
end

function done(summary, latency)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non200")
   end
   local e = summary.errors
   io.write(string.format('WRK_RESULT {"duration_us": %d, "requests": %d, "non200": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}, "position": %d}\n',
      summary.duration, summary.requests, bad, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      threads[1]:get("position")))
end
