-- wrk script for the API benchmark. Environment:
--   BENCH_TARGETS   file of "<channel_id> <token>" lines; requests cycle through them
--   BENCH_MODE      "send" (POST a message) or "history" (GET the last BENCH_LIMIT messages)
--   BENCH_MAX       stop a thread after this many responses (the count bound; wrk -d is the time bound)
-- done() prints one JSON line (after the marker) that run.py parses.
local targets, next_target, sent, answered = {}, 0, 0, 0
local mode = os.getenv("BENCH_MODE") or "send"
local limit = os.getenv("BENCH_LIMIT") or "50"
local max_responses = tonumber(os.getenv("BENCH_MAX") or "0")
local unexpected = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_TARGETS")) do
    local channel, token = line:match("^(%d+) (%S+)$")
    if channel then
      targets[#targets + 1] = {
        path = "/channels/" .. channel .. "/messages",
        headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"},
      }
    end
  end
end

function request()
  next_target = next_target % #targets + 1
  local target = targets[next_target]
  sent = sent + 1
  if mode == "history" then
    return wrk.format("GET", target.path .. "?limit=" .. limit, target.headers)
  end
  -- About 60 bytes of text, like a typical chat line; unique so nothing is de-duplicated.
  local body = '{"content":"benchmark message number ' .. sent .. ' from a wrk connection"}'
  return wrk.format("POST", target.path, target.headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  local expected = (mode == "history" and status == 200) or (mode == "send" and status == 201)
  if not expected then
    unexpected = unexpected + 1
    if unexpected <= 3 then io.stderr:write("unexpected " .. status .. ": " .. body .. "\n") end
  end
  if max_responses > 0 and answered >= max_responses then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write("BENCH_JSON ", string.format(
    '{"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,'
      .. '"errors_read":%d,"errors_write":%d,"errors_timeout":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
