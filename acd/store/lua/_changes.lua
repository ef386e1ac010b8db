-- Prepended to every script that changes a call or an agent (see redis_store._load_script).
-- Each changed hash gets its version bumped and its whole new content appended to the site's
-- change feed, which every acd process follows to keep its in-memory view current; the same
-- snapshots are returned to the caller, which applies its own changes at once.
-- The feed key is derived from KEYS[1] (every key of a site shares the "acd:{site}:" prefix,
-- so one Redis Cluster slot).
local FEED = string.match(KEYS[1], '^(.-{.-}:)') .. 'changes'
local FEED_LENGTH = 10000
local SNAPSHOTS = {}
local function changed(kind, key)
  redis.call('HINCRBY', key, 'v', 1)
  local snapshot = redis.call('HGETALL', key)
  redis.call('XADD', FEED, 'MAXLEN', '~', FEED_LENGTH, '*', 'k', kind, unpack(snapshot))
  table.insert(SNAPSHOTS, {kind, snapshot})
end
local function done(result)
  local reply = {result}
  for _, snapshot in ipairs(SNAPSHOTS) do
    table.insert(reply, snapshot)
  end
  return reply
end
