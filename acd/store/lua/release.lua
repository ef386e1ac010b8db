-- An offer did not connect (no answer, busy, unreachable): the call goes back to waiting at
-- its original place (same score, so same arrival time), once per offer, and only the offer
-- the event is about: its fence, and its agent when the event names one.
-- KEYS[1] call hash, KEYS[2] the call's waiting zset, KEYS[3] open offers zset
-- ARGV[1] call id, ARGV[2] fence of the offer being released, ARGV[3] score,
-- ARGV[4] the agent that offer was to ('' = not known)
-- Returns the agent id the call was offered to, or false if that offer was already settled.
local call = redis.call('HMGET', KEYS[1], 'status', 'fence', 'agent')
if call[1] ~= 'offered' or call[2] ~= ARGV[2] then
  return done('')
end
if ARGV[4] ~= '' and call[3] ~= ARGV[4] then
  return done('')
end
redis.call('HSET', KEYS[1], 'status', 'waiting', 'agent', '')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
changed('c', KEYS[1])
return done(call[3])
