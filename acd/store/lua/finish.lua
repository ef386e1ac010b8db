-- End a call once, whatever state it was in; a connected call ends as answered, any other
-- as the outcome given. The hash then expires, so finished calls do not pile up.
-- KEYS[1] call hash, KEYS[2] the call's waiting zset, KEYS[3] active-calls zset,
-- KEYS[4] open offers zset
-- ARGV[1] call id, ARGV[2] now, ARGV[3] outcome unless connected, ARGV[4] ttl seconds,
-- ARGV[5] detail (hangup cause, fallback reason)
-- Returns {previous status, agent id} or false if the call is unknown or already ended.
local call = redis.call('HMGET', KEYS[1], 'status', 'agent')
if not call[1] or call[1] == 'ended' then
  return false
end
local outcome = ARGV[3]
if call[1] == 'connected' then
  outcome = 'answered'
end
redis.call('HSET', KEYS[1], 'status', 'ended', 'outcome', outcome, 'ended_at', ARGV[2],
  'detail', ARGV[5])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {call[1], call[2] or ''}
