-- Reserve a waiting call for one named agent until a time, or end such a reservation. The
-- call keeps its place in line (its waiting zset is not touched); claim.lua refuses it to
-- every other agent until then.
-- KEYS[1] call hash, KEYS[2] agent hash
-- ARGV[1] 'reserve' or 'end', ARGV[2] agent id, ARGV[3] until (reserve) or the reservation's
-- until to end ('' ends whichever reservation the agent holds on the call)
-- Returns 1 if done; 0 if the call is not waiting, the agent is logged out or paused
-- (reserve), or the call is not so reserved (end).
if redis.call('HGET', KEYS[1], 'status') ~= 'waiting' then
  return done(0)
end
if ARGV[1] == 'reserve' then
  local state = redis.call('HGET', KEYS[2], 'state')
  if not state or state == 'logged_out' or state == 'paused' then
    return done(0)
  end
  redis.call('HSET', KEYS[1], 'reserved_for', ARGV[2], 'reserved_until', ARGV[3])
else
  local held = redis.call('HMGET', KEYS[1], 'reserved_for', 'reserved_until')
  if held[1] ~= ARGV[2] or (ARGV[3] ~= '' and held[2] ~= ARGV[3]) then
    return done(0)
  end
  redis.call('HDEL', KEYS[1], 'reserved_for', 'reserved_until')
end
changed('c', KEYS[1])
return done(1)
