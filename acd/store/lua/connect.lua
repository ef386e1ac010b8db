-- The agent answered: the offered call becomes connected, once.
-- KEYS[1] call hash, KEYS[2] open offers zset
-- ARGV[1] call id, ARGV[2] now, ARGV[3] the agent's channel (for listen, whisper, barge)
-- Returns {agent id, fence} or false if the call was not being offered.
local call = redis.call('HMGET', KEYS[1], 'status', 'agent', 'fence')
if call[1] ~= 'offered' then
  return false
end
redis.call('HSET', KEYS[1], 'status', 'connected', 'answered_at', ARGV[2],
  'agent_channel', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return {call[2], call[3]}
