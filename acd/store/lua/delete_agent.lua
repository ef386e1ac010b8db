-- Delete an agent, with its place in every index, unless it is on a call: checked and done in
-- one step, so a call claimed meanwhile is never left with a deleted agent.
-- KEYS[1] agent hash, KEYS[2] set of agent ids, KEYS[3] roster version, KEYS[4] wrap-up zset,
-- KEYS[5..] the ready zsets of its profile
-- ARGV[1] agent id, ARGV[2] its queues, team and role as Python read them, one per line
-- (see save_agent.lua), ARGV[3] the states in which an agent is on a call, space separated
-- Returns 'deleted', 'missing', 'on_call', or 'stale' if its profile changed since it was
-- read (the ready zsets may then be others: read it again). A deletion is announced on the
-- change feed (prelude _changes.lua).
local agent = redis.call('HMGET', KEYS[1], 'id', 'queues', 'team', 'role', 'state')
if not agent[1] then
  return done('missing')
end
if (agent[2] or '') .. '\n' .. (agent[3] or '') .. '\n' .. (agent[4] or '') ~= ARGV[2] then
  return done('stale')
end
if agent[5] and string.find(' ' .. ARGV[3] .. ' ', ' ' .. agent[5] .. ' ', 1, true) then
  return done('on_call')
end
for i = 5, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[1])
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[3])
redis.call('XADD', FEED, 'MAXLEN', '~', FEED_LENGTH, '*', 'k', 'gone-agent', 'id', ARGV[1])
return done('deleted')
