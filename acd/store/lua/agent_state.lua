-- Move an agent to a new state if the transition table allows it from its current state
-- (Python passes the allowed from-states) and, when given, it is still on the expected call:
-- a compare-and-set of the state Python computed. An agent on a call (reserved, ringing,
-- busy) leaves it only by a change naming that call: a process whose view is behind (a
-- wrap-up timer it still sees, say) cannot make ready an agent a call is offered to, who
-- could then be given a second call. A pending pause or log-out (asked for during a
-- conversation) is dropped with any change: Python applies it when the call ends. Keeps the
-- ready index (one zset per queue, scored by idle-since) and the wrap-up timers, and counts
-- log-ins and log-outs in the roster version.
-- KEYS[1] agent hash, KEYS[2] wrap-up zset, KEYS[3] roster version,
-- KEYS[4..] ready zsets of the agent's queues
-- ARGV[1] agent id, ARGV[2] target state, ARGV[3] now, ARGV[4] allowed from-states
-- (space separated), ARGV[5] expected call ('' = any), ARGV[6] pause reason,
-- ARGV[7] call to attach ('' = none), ARGV[8] wrap-up ends at (0 = no timer),
-- ARGV[9] the states in which an agent is on a call (space separated)
-- Returns the previous state, '' if the transition was refused, or 'missing' if there is no
-- such agent (Redis lost it: a partial hash is never written).
local agent = redis.call('HMGET', KEYS[1], 'state', 'call', 'id')
local state = agent[1]
if not state or not agent[3] then
  return done('missing')
end
if not string.find(' ' .. ARGV[4] .. ' ', ' ' .. state .. ' ', 1, true) then
  return done('')
end
if ARGV[5] ~= '' and agent[2] ~= ARGV[5] then
  return done('')
end
if ARGV[5] == '' and string.find(' ' .. ARGV[9] .. ' ', ' ' .. state .. ' ', 1, true) then
  return done('')
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'state_since', ARGV[3], 'pause_reason', ARGV[6],
  'call', ARGV[7], 'wrap_up_until', ARGV[8])
redis.call('HDEL', KEYS[1], 'pending_state', 'pending_reason')
if ARGV[2] == 'ready' then
  redis.call('HSET', KEYS[1], 'idle_since', ARGV[3])
end
if (state == 'logged_out') ~= (ARGV[2] == 'logged_out') then
  redis.call('INCR', KEYS[3])
end
for i = 4, #KEYS do
  if ARGV[2] == 'ready' then
    redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1])
  else
    redis.call('ZREM', KEYS[i], ARGV[1])
  end
end
if ARGV[8] ~= '0' then
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
changed('a', KEYS[1])
return done(state)
