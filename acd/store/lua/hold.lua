-- A connected call's caller or agent went on hold, or came back: the hold's start is kept,
-- and its length added to the call's hold_seconds when it ends. A second Hold while held (both
-- sides, or a repeated event) changes nothing; so does an Unhold without a Hold.
-- KEYS[1] call hash
-- ARGV[1] now, ARGV[2] '1' = on hold, '0' = off hold, ARGV[3] who ('caller' or 'agent')
-- Returns {'held', who} when a hold began, {'unheld', who, seconds} when it ended, or ''.
local call = redis.call('HMGET', KEYS[1], 'status', 'held_since', 'held_by')
if call[1] ~= 'connected' then
  return done('')
end
local since = call[2] or ''
if ARGV[2] == '1' then
  if since ~= '' then
    return done('')
  end
  redis.call('HSET', KEYS[1], 'held_since', ARGV[1], 'held_by', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'holds', 1)
  changed('c', KEYS[1])
  return done({'held', ARGV[3]})
end
if since == '' or (call[3] or '') ~= ARGV[3] then
  return done('')
end
local seconds = tonumber(ARGV[1]) - tonumber(since)
if seconds < 0 then
  seconds = 0
end
redis.call('HSET', KEYS[1], 'held_since', '', 'held_by', '')
redis.call('HINCRBYFLOAT', KEYS[1], 'hold_seconds', seconds)
changed('c', KEYS[1])
return done({'unheld', ARGV[3], tostring(seconds)})
