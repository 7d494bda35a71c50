-- GET <prefix><id> with a uniformly random id in [low, high], so few requests repeat.
--   wrk -s bench/wrk/random_id.lua http://127.0.0.1:8000 -- /api/v1/books/ 1 1000000

local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local prefix, low, high

function init(args)
  prefix = args[1] or "/"
  low = tonumber(args[2] or "1")
  high = tonumber(args[3] or "1")
  math.randomseed(os.time() * 1000 + (thread_index or 0) * 7919)
end

function request()
  return wrk.format(nil, prefix .. math.random(low, high))
end
