-- Remember whether an agent's phone is busy with a call acd did not give it.
-- KEYS[1] agent hash
-- ARGV[1] 1 busy, 0 free
-- Returns 1 if recorded, 'missing' if there is no such agent (a partial hash is never
-- written).
if not redis.call('HGET', KEYS[1], 'id') then
  return done('missing')
end
redis.call('HSET', KEYS[1], 'device_busy', ARGV[1])
changed('a', KEYS[1])
return done(1)
