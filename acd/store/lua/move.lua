-- Move a waiting call to another queue and/or priority, keeping its id and arrival time (its
-- place in the new line follows its priority and arrival), once: only a waiting call moves.
-- KEYS[1] call hash, KEYS[2] old queue's waiting zset, KEYS[3] new queue's waiting zset
-- ARGV[1] call id, ARGV[2] new queue name, ARGV[3] score in the new queue, ARGV[4] priority,
-- ARGV[5] the skills the call requires in the new queue (its defaults and the call's own)
-- Returns 1 if moved, 0 if the call was not waiting.
if redis.call('HGET', KEYS[1], 'status') ~= 'waiting' then
  return done(0)
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if KEYS[2] ~= KEYS[3] then
  -- A new queue's steps start over, with that queue's skills.
  redis.call('HSET', KEYS[1], 'step', 0, 'skills', ARGV[5])
end
redis.call('HSET', KEYS[1], 'queue', ARGV[2], 'priority', ARGV[4])
changed('c', KEYS[1])
return done(1)
