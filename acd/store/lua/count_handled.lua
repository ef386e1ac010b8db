-- One more answered call and its talk time for an agent, counted per local calendar day, so
-- that fewest-calls and least-talk-time share out each day's calls afresh.
-- KEYS[1] agent hash
-- ARGV[1] today (e.g. 2026-11-29), ARGV[2] talk seconds
-- Returns 1, or 'missing' if there is no such agent (Redis lost it: a partial hash is never
-- written).
if not redis.call('HGET', KEYS[1], 'id') then
  return done('missing')
end
if redis.call('HGET', KEYS[1], 'counts_day') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'counts_day', ARGV[1], 'calls_taken', 0, 'talk_seconds', 0)
end
redis.call('HINCRBY', KEYS[1], 'calls_taken', 1)
redis.call('HINCRBYFLOAT', KEYS[1], 'talk_seconds', ARGV[2])
changed('a', KEYS[1])
return done(1)
