-- Create an agent (logged out) or change its profile, keeping its live state, in one step: the
-- ready indexes follow the new profile from the state the agent is in now, so a claim that
-- reserved it since Python read it is never undone (the agent is not put back as ready).
-- KEYS[1] agent hash, KEYS[2] set of agent ids, KEYS[3] roster version,
-- KEYS[4..3+ARGV[2]] ready zsets of the old profile that the new one leaves,
-- KEYS[4+ARGV[2]..] ready zsets of the new profile
-- ARGV[1] agent id, ARGV[2] the old profile's queues, team and role as Python read them, one
-- per line ('' = no such agent), ARGV[3] how many zsets to leave, ARGV[4] how many field/value
-- pairs of the profile follow, ARGV[5..] the profile's fields and values, then the live
-- state's (written for a new agent only)
-- Returns 1 if the agent was created, 0 if changed, -1 if its profile changed since it was read
-- (the zsets to leave may then be others: read it again). A change is announced on the change
-- feed (prelude _changes.lua) for every process to read the agent again.
local old = redis.call('HMGET', KEYS[1], 'id', 'queues', 'team', 'role')
local seen = ''
if old[1] then
  seen = (old[2] or '') .. '\n' .. (old[3] or '') .. '\n' .. (old[4] or '')
end
if seen ~= ARGV[2] then
  return done(-1)
end
local leave = tonumber(ARGV[3])
local profile_end = 4 + 2 * tonumber(ARGV[4])
local profile = {}
local live = {}
for i = 5, #ARGV do
  if i <= profile_end then
    profile[#profile + 1] = ARGV[i]
  else
    live[#live + 1] = ARGV[i]
  end
end
if not old[1] then
  -- A hash without an id is what an older acd could leave after Redis lost its data (a
  -- phone's busy flag alone): the new agent replaces it whole.
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], unpack(profile))
if not old[1] then
  redis.call('HSET', KEYS[1], unpack(live))
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
for i = 4, 3 + leave do
  redis.call('ZREM', KEYS[i], ARGV[1])
end
local now = redis.call('HMGET', KEYS[1], 'state', 'idle_since')
if now[1] == 'ready' then
  for i = 4 + leave, #KEYS do
    redis.call('ZADD', KEYS[i], now[2], ARGV[1])
  end
end
redis.call('XADD', FEED, 'MAXLEN', '~', FEED_LENGTH, '*', 'k', 'agent', 'id', ARGV[1])
if old[1] then
  return done(0)
end
return done(1)
