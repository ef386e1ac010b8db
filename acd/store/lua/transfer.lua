-- The agent transferred the call: recorded once on the call (live, or just ended by the
-- agent's leg leaving), with the kind, the target and the agent who did it.
-- KEYS[1] call hash
-- ARGV[1] now, ARGV[2] kind, ARGV[3] target, ARGV[4] the agent's channel (must be the call's)
-- Returns {agent id, status} if recorded now, '' if unknown, already recorded or not the
-- call's agent leg.
local call = redis.call('HMGET', KEYS[1], 'status', 'agent', 'agent_channel', 'transfer')
if not call[1] or (call[4] or '') ~= '' or (call[3] or '') ~= ARGV[4] then
  return done('')
end
if call[1] ~= 'connected' and call[1] ~= 'ended' then
  return done('')
end
redis.call('HSET', KEYS[1], 'transfer', ARGV[2], 'transfer_target', ARGV[3],
  'transferred_at', ARGV[1], 'transferred_by', call[2] or '')
changed('c', KEYS[1])
return done({call[2] or '', call[1]})
