-- Adopt a caller Asterisk has with an agent (ringing it, or talking to it) while Redis has no
-- record of the call (Redis lost its data): the call is recorded offered to that agent, or
-- connected with it since the answer, and the agent put on it, in one step, once. Nothing is
-- written when the agent does not exist: a partial record is never created.
-- KEYS[1] call hash, KEYS[2] active-calls zset, KEYS[3] agent hash, KEYS[4] fence counter,
-- KEYS[5] open offers zset, KEYS[6] roster version, KEYS[7] wrap-up zset,
-- KEYS[8..] the ready zsets of every queue the agent serves
-- ARGV[1] call id, ARGV[2] agent id, ARGV[3] 'offered' or 'connected', ARGV[4] now,
-- ARGV[5] settle-by (offered) or answer time (connected), ARGV[6] the agent's channel,
-- ARGV[7] arrival time, ARGV[8..] field, value pairs of the call hash
-- Returns the fence of the adoption, or 'known' if the call exists, 'missing' if the agent
-- does not, 'busy' if the agent is on another call.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return done('known')
end
local agent = redis.call('HMGET', KEYS[3], 'id', 'state', 'call')
if not agent[1] then
  return done('missing')
end
local state = agent[2] or 'logged_out'
if (state == 'reserved' or state == 'ringing' or state == 'busy') and agent[3] ~= ARGV[1] then
  return done('busy')
end
local fence = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'agent', ARGV[2], 'fence', fence,
  'offered_at', ARGV[4], 'attempts', 1)
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
local target = 'ringing'
local since = ARGV[4]
if ARGV[3] == 'connected' then
  target = 'busy'
  since = ARGV[5]
  redis.call('HSET', KEYS[1], 'answered_at', ARGV[5], 'agent_channel', ARGV[6])
else
  redis.call('HSET', KEYS[1], 'settle_by', ARGV[5])
  redis.call('ZADD', KEYS[5], ARGV[5], ARGV[1])
end
if state == 'logged_out' then
  redis.call('INCR', KEYS[6])
end
redis.call('HSET', KEYS[3], 'state', target, 'state_since', since, 'call', ARGV[1],
  'fence', fence, 'pause_reason', '', 'wrap_up_until', '0')
redis.call('ZREM', KEYS[7], ARGV[2])
for i = 8, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[2])
end
changed('c', KEYS[1])
changed('a', KEYS[3])
return done(tostring(fence))
