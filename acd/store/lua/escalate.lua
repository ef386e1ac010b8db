-- An agent escalates a live call: it leaves the agent and waits again, for a team lead, ahead
-- of ordinary calls, keeping its arrival time. Once: only a connected call of that agent.
-- KEYS[1] call hash, KEYS[2] the call's waiting zset
-- ARGV[1] call id, ARGV[2] the agent it is connected to, ARGV[3] score, ARGV[4] team of the
-- agent, ARGV[5] now
-- Returns 1 if escalated, 0 if the call was not connected to that agent.
local call = redis.call('HMGET', KEYS[1], 'status', 'agent')
if call[1] ~= 'connected' or call[2] ~= ARGV[2] then
  return done(0)
end
redis.call('HSET', KEYS[1], 'status', 'waiting', 'agent', '', 'step', 0,
  'escalated_by', ARGV[2], 'escalation_team', ARGV[4], 'escalated_at', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
changed('c', KEYS[1])
return done(1)
