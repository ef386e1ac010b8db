-- End a call once, whatever state it was in; a connected call ends as answered, any other
-- as the outcome given. The hash then expires, so finished calls do not pile up.
-- Its agent, if the call was offered to or connected with one and the agent is still on it,
-- is freed in the same script: an offered call's agent becomes ready again; a connected
-- call's agent gets the call and its talk time counted and goes to the state Python chose
-- (wrap-up with a timer, or ready), unless a pause or log-out was asked for during the call
-- (pending_state): then it takes that state, with no wrap-up.
-- KEYS[1] call hash, KEYS[2] the call's waiting zset, KEYS[3] active-calls zset,
-- KEYS[4] open offers zset, KEYS[5] agent hash prefix, KEYS[6] wrap-up zset,
-- KEYS[7] roster version (a log-out counts), KEYS[8..] ready zsets of the expected agent
-- ARGV[1] call id, ARGV[2] now, ARGV[3] outcome unless connected, ARGV[4] ttl seconds,
-- ARGV[5] detail (hangup cause, fallback reason), ARGV[6] expected agent ('' = leave agents
-- alone), ARGV[7] its state after a conversation, ARGV[8] wrap-up ends at (0 = none),
-- ARGV[9] talk seconds ('' = since the answer), ARGV[10] today (for the agent's counts),
-- ARGV[11] 1 if the agent's phone is still in use (then it is recorded busy: nobody rings it
-- until the phone says it is free)
-- Returns {previous status, agent id, talk seconds, 1 if the agent was freed, the state it
-- took ('' if not freed)}, or '' if the call is unknown or already ended.
local call = redis.call('HMGET', KEYS[1], 'status', 'agent', 'answered_at')
if not call[1] or call[1] == 'ended' then
  return done('')
end
local outcome = ARGV[3]
local talk = 0
if call[1] == 'connected' then
  outcome = 'answered'
  if ARGV[9] ~= '' then
    talk = tonumber(ARGV[9])
  else
    talk = tonumber(ARGV[2]) - tonumber(call[3] or ARGV[2])
  end
  if talk < 0 then
    talk = 0
  end
end
redis.call('HSET', KEYS[1], 'status', 'ended', 'outcome', outcome, 'ended_at', ARGV[2],
  'detail', ARGV[5])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
changed('c', KEYS[1])
local agent_id = call[2] or ''
local freed = 0
local took = ''
if agent_id ~= '' and agent_id == ARGV[6] then
  local agent_key = KEYS[5] .. agent_id
  local agent = redis.call('HMGET', agent_key, 'state', 'call', 'counts_day', 'pending_state',
    'pending_reason')
  local target = ''
  local reason = ''
  if call[1] == 'offered' and (agent[1] == 'reserved' or agent[1] == 'ringing') then
    target = 'ready'
  elseif call[1] == 'connected' and agent[1] == 'busy' then
    target = ARGV[7]
    if agent[4] and agent[4] ~= '' then
      target = agent[4]
      reason = agent[5] or ''
    end
    if agent[3] ~= ARGV[10] then
      redis.call('HSET', agent_key, 'counts_day', ARGV[10], 'calls_taken', 0, 'talk_seconds', 0)
    end
    redis.call('HINCRBY', agent_key, 'calls_taken', 1)
    redis.call('HINCRBYFLOAT', agent_key, 'talk_seconds', talk)
  end
  if target ~= '' and agent[2] == ARGV[1] then
    local until_ = '0'
    if target == 'wrap_up' then
      until_ = ARGV[8]
    end
    redis.call('HSET', agent_key, 'state', target, 'state_since', ARGV[2], 'pause_reason', reason,
      'call', '', 'wrap_up_until', until_)
    redis.call('HDEL', agent_key, 'pending_state', 'pending_reason')
    if target == 'logged_out' then
      redis.call('INCR', KEYS[7])
    end
    if ARGV[11] == '1' then
      redis.call('HSET', agent_key, 'device_busy', '1')
    end
    if target == 'ready' then
      redis.call('HSET', agent_key, 'idle_since', ARGV[2])
      for i = 8, #KEYS do
        redis.call('ZADD', KEYS[i], ARGV[2], agent_id)
      end
    end
    if until_ ~= '0' then
      redis.call('ZADD', KEYS[6], until_, agent_id)
    else
      redis.call('ZREM', KEYS[6], agent_id)
    end
    changed('a', agent_key)
    freed = 1
    took = target
  end
end
return done({call[1], agent_id, tostring(talk), freed, took})
