-- wrk script: rotate over the main staff pages and the API as a signed-in user.
-- Set PC_SESSION (a session cookie value) and PC_TOKEN (an API key) in the environment.
local session = os.getenv("PC_SESSION") or ""
local token = os.getenv("PC_TOKEN") or ""
local paths = {}
for p in string.gmatch(os.getenv("PC_PATHS") or "/", "[^,]+") do
  paths[#paths + 1] = p
end
local counter = 0

request = function()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  local headers = {}
  if string.sub(path, 1, 5) == "/api/" then
    headers["Authorization"] = "Bearer " .. token
  else
    headers["Cookie"] = "sessionid=" .. session
  end
  return wrk.format("GET", path, headers)
end

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("requests: %d in %.1f s = %.1f req/s; errors: connect %d, read %d, write %d, timeout %d, non-2xx %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
  io.write(string.format("latency ms: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
