-- Add a new waiting call, once. A second ACDEnqueue for the same call (a duplicate event, or
-- a second acd process that saw the same event) changes nothing.
-- KEYS[1] call hash, KEYS[2] the queue's waiting zset, KEYS[3] active-calls zset
-- ARGV[1] call id, ARGV[2] score in the waiting zset, ARGV[3] arrival time,
-- ARGV[4..] field, value pairs of the call hash
-- Returns 1 if the call was added, 0 if it was already known.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return done(0)
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
changed('c', KEYS[1])
return done(1)
