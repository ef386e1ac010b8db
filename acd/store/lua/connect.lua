-- The agent answered: the offered call becomes connected, once, and its agent busy (if still
-- reserved or ringing for this call): one script for the whole event. Only an answer about
-- the offer standing now counts: by the agent the call is offered to, and by its fence when
-- the event carries one (a late or repeated answer of an earlier offer changes nothing).
-- KEYS[1] call hash, KEYS[2] open offers zset, KEYS[3] agent hash prefix (KEYS[3] .. id)
-- ARGV[1] call id, ARGV[2] now, ARGV[3] the agent's channel (for listen, whisper, barge),
-- ARGV[4] the agent who answered, ARGV[5] the offer's fence ('0' = not known)
-- Returns {agent id, fence}, or '' if the call was not being offered so.
local call = redis.call('HMGET', KEYS[1], 'status', 'agent', 'fence')
if call[1] ~= 'offered' or call[2] ~= ARGV[4] then
  return done('')
end
if ARGV[5] ~= '0' and call[3] ~= ARGV[5] then
  return done('')
end
redis.call('HSET', KEYS[1], 'status', 'connected', 'answered_at', ARGV[2],
  'agent_channel', ARGV[3])
-- The first answer stays: an escalated call answered again by a lead waited only until then.
redis.call('HSETNX', KEYS[1], 'first_answered_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
changed('c', KEYS[1])
local agent_key = KEYS[3] .. call[2]
local agent = redis.call('HMGET', agent_key, 'state', 'call')
if (agent[1] == 'reserved' or agent[1] == 'ringing') and agent[2] == ARGV[1] then
  redis.call('HSET', agent_key, 'state', 'busy', 'state_since', ARGV[2], 'pause_reason', '')
  changed('a', agent_key)
end
return done({call[2], call[3]})
