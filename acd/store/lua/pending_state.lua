-- A pause or log-out asked for while the agent talks: kept on the agent (pending_state,
-- pending_reason) for finish.lua to apply when the call ends, if the agent is still busy on
-- the call Python saw. An empty state takes the request back.
-- KEYS[1] agent hash
-- ARGV[1] the call the agent is busy on, ARGV[2] pending state ('' = none), ARGV[3] reason
-- Returns 1 if set, 0 if the agent is not busy on that call.
local agent = redis.call('HMGET', KEYS[1], 'state', 'call')
if agent[1] ~= 'busy' or agent[2] ~= ARGV[1] then
  return done(0)
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], 'pending_state', 'pending_reason')
else
  redis.call('HSET', KEYS[1], 'pending_state', ARGV[2], 'pending_reason', ARGV[3])
end
changed('a', KEYS[1])
return done(1)
