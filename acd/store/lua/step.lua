-- Record the routing step a waiting call has reached.
-- KEYS[1] call hash
-- ARGV[1] step
-- Returns 1, or 0 if the call is not waiting.
if redis.call('HGET', KEYS[1], 'status') ~= 'waiting' then
  return done(0)
end
redis.call('HSET', KEYS[1], 'step', ARGV[1])
changed('c', KEYS[1])
return done(1)
