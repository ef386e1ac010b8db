-- Delete a queue and its indexes unless calls wait in it or agents serve it: checked and done
-- in one step. Which agents serve it Python reads from the roster; the roster version says
-- whether any agent changed since (its count of changes moves with every profile write).
-- KEYS[1] set of queue names, KEYS[2] queue configuration, KEYS[3] waiting zset,
-- KEYS[4] ready zset, KEYS[5] round-robin cursor, KEYS[6] roster version
-- ARGV[1] queue name, ARGV[2] the roster version the agents were read at, ARGV[3] '1' if an
-- agent read then serves the queue
-- Returns 'deleted', 'missing', 'waiting', 'served', or 'stale' if the roster changed since.
-- A deletion is announced on the change feed (prelude _changes.lua).
if redis.call('EXISTS', KEYS[2]) == 0 then
  return done('missing')
end
if redis.call('ZCARD', KEYS[3]) > 0 then
  return done('waiting')
end
if (redis.call('GET', KEYS[6]) or '0') ~= ARGV[2] then
  return done('stale')
end
if ARGV[3] == '1' then
  return done('served')
end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('XADD', FEED, 'MAXLEN', '~', FEED_LENGTH, '*', 'k', 'gone-queue', 'id', ARGV[1])
return done('deleted')
