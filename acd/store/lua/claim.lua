-- Claim a (call, agent) pair: the call leaves the queue and the agent becomes reserved, or
-- nothing happens. Two acd processes racing for the same call or agent: one wins.
-- KEYS[1] call hash, KEYS[2] agent hash, KEYS[3] the call's waiting zset, KEYS[4] fence
-- counter, KEYS[5] open offers zset, KEYS[6..] the ready zsets of every queue the agent serves
-- ARGV[1] call id, ARGV[2] agent id, ARGV[3] now, ARGV[4] time by which the offer must settle
-- Returns {fence, 'ok'} on success, {0, why} when the call or the agent is no longer free.
-- A call reserved for another agent (send to a named agent) is not free until the reservation
-- is over; the offer, to anyone, ends the reservation.
local call = redis.call('HMGET', KEYS[1], 'status', 'reserved_for', 'reserved_until')
if call[1] ~= 'waiting' then
  return done(0)
end
if call[2] and call[2] ~= '' and call[2] ~= ARGV[2]
    and tonumber(call[3] or '0') > tonumber(ARGV[3]) then
  return done(0)
end
local agent = redis.call('HMGET', KEYS[2], 'state', 'device_busy')
if agent[1] ~= 'ready' or agent[2] == '1' then
  return done(0)
end
local fence = redis.call('INCR', KEYS[4])
redis.call('ZREM', KEYS[3], ARGV[1])
for i = 6, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[2])
end
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HDEL', KEYS[1], 'reserved_for', 'reserved_until')
redis.call('HSET', KEYS[1], 'status', 'offered', 'agent', ARGV[2], 'fence', fence,
  'offered_at', ARGV[3], 'settle_by', ARGV[4])
redis.call('HSET', KEYS[2], 'state', 'reserved', 'state_since', ARGV[3], 'call', ARGV[1],
  'fence', fence)
changed('c', KEYS[1])
changed('a', KEYS[2])
return done(fence)
