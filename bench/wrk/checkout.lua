-- Checkout load for wrk: each request buys one or two of the hot books as one of
-- the buyers (bearer tokens), with a fresh Idempotency-Key. Counts answers by status.
-- Configured by bench/checkout.py through wrk's script arguments:
--   wrk ... -s checkout.lua URL -- <comma-separated tokens> <comma-separated book ids> [voucher code]
local tokens, books, voucher = {}, {}, ""
local counter, started = 0, 0
local threads = {}
statuses = {}   -- global: done() reads each thread's table through thread:get()

local function split(text)
  local out = {}
  for item in string.gmatch(text, "[^,]+") do table.insert(out, item) end
  return out
end

function setup(thread)
  started = started + 1
  thread:set("thread_id", started)
  table.insert(threads, thread)
end

function init(args)
  tokens = split(args[1])
  books = split(args[2])
  if args[3] and args[3] ~= "" then voucher = '"voucher_code":"' .. args[3] .. '",' end
  math.randomseed(os.time() + (thread_id or 0) * 7919)
end

local address = '"shipping_address":{"name":"Bench Buyer","line1":"1 Load St","city":"Porto","postal_code":"4000","country":"PT"},'
-- an expiry four years from today, so the benchmark never ages out
local card = string.format('"payment":{"card_number":"4242424242424242","expiry":"%s/%02d","cvc":"123"}',
  os.date("%m"), (tonumber(os.date("%Y")) + 4) % 100)

function request()
  counter = counter + 1
  local first = books[math.random(#books)]
  local items = '{"book_id":' .. first .. ',"quantity":1}'
  if math.random(3) == 1 then
    local second = books[math.random(#books)]
    if second ~= first then items = items .. ',{"book_id":' .. second .. ',"quantity":1}' end
  end
  local body = '{"items":[' .. items .. '],' .. address .. voucher .. card .. '}'
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "wrk-" .. tostring(thread_id) .. "-" .. tostring(counter) .. "-" .. tostring(math.random(1e9)),
  }
  return wrk.format("POST", "/api/v1/orders", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do totals[status] = (totals[status] or 0) + count end
  end
  for status, count in pairs(totals) do io.write(string.format("status %d %d\n", status, count)) end
  io.write(string.format("latency_p50_ms %.2f\nlatency_p99_ms %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
