-- wrk script for the conformance suite: HTTP/1.1 pipelining with an exact count. wrk writes
-- the 10 requests of `req` at once and the next 10 only after their 10 responses; each thread
-- (one connection each) stops after exactly `batches` rounds, so wrk's "N requests" is exact
-- instead of cut at the duration with requests in flight. Every fifth request is a 404.
-- 10 requests per write (pipelined); each thread stops after exactly `batches` of them.
local depth, batches, seen = 10, 50, 0
init = function(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, (i % 5 == 0) and "/missing" or "/index.html") end
  req = table.concat(r)
end
request = function() return req end
response = function(status, headers, body)
  seen = seen + 1
  if seen == depth * batches then wrk.thread:stop() end
end
