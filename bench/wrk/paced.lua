-- wrk script: requests at a steady rate, paths read from a file, a JSON summary.
--
--   wrk -t T -c C -d D -s bench/wrk/paced.lua http://host:port -- RATE T METHOD PATHS [KEY]
--
-- RATE: requests per second over all T threads (plain wrk has no -R, so each thread
-- paces itself with delay(): a slot every T/RATE seconds; a thread that falls behind
-- does not burst to catch up, so an overloaded server shows as a lower rate).
-- METHOD: GET, or POST (an RFC 8058 one-click: "List-Unsubscribe=One-Click", form
-- encoded, no cookie). PATHS: "@file" (one path a line; each thread takes every T-th
-- line, so no two requests share one until the file is used up) or a single path.
-- KEY: a staff API key, sent as "Authorization: Bearer KEY".

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec[1]")

local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock[0].tv_sec) * 1000 + tonumber(clock[0].tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local rate, count = tonumber(args[1]), tonumber(args[2])
  interval = 1000 * count / rate
  method = args[3]
  paths = {}
  if string.sub(args[4], 1, 1) == "@" then
    local line_number = 0
    for line in io.lines(string.sub(args[4], 2)) do
      if line_number % count == index then
        table.insert(paths, line)
      end
      line_number = line_number + 1
    end
  else
    table.insert(paths, args[4])
  end
  headers = {}
  body = nil
  if method == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = "List-Unsubscribe=One-Click"
  end
  if args[5] then
    headers["Authorization"] = "Bearer " .. args[5]
  end
  position = 0
  wrapped = 0
  next_slot = now_ms()
end

function delay()
  local now = now_ms()
  if next_slot < now then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval
  return wait
end

function request()
  position = position + 1
  if position > #paths then
    position = 1
    wrapped = wrapped + 1
  end
  return wrk.format(method, paths[position], headers, body)
end

function done(summary, latency, requests)
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout,
    wraps))
end
