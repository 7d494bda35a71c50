-- Cycle through the request paths given after `--` (each thread starts at its own offset).
--   wrk -s bench/wrk/paths.lua http://127.0.0.1:8000 -- /a /b?x=1 /c

local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local paths = {}
local position = 0

function init(args)
  for i, path in ipairs(args) do
    paths[i] = path
  end
  if #paths == 0 then
    paths[1] = "/"
  end
  position = ((thread_index or 0) * 7) % #paths
end

function request()
  position = position % #paths + 1
  return wrk.format(nil, paths[position])
end
