-- The JS loop's step (lib/resque/worker.js): acknowledge the finished jobs of
-- all of a Worker's slots, then claim new ones, in one round trip. Loaded by
-- lib/resque/scripts.js with step-id.lua prepended (step_seen, step_done).
--
-- Each step carries an id (the worker's random token and a sequence number),
-- kept in a key of the worker's own. A step sent again after its reply was
-- lost (ioredis re-sends it on the new connection; the worker retries it
-- with the same acks) finds its id there and changes nothing: it returns
-- what the slots' working-on keys now hold, so a job the first run claimed
-- still runs. An older step of the same worker arriving late changes
-- nothing either. Comparing working-on values alone cannot tell a retried
-- ack from a new one when the next job's record is byte-identical (the same
-- entry claimed again in the same second): the retried ack would delete it.
--
-- An ack only counts if the slot's working-on key still holds exactly what the
-- claim wrote: an ack for a job another worker already recovered changes
-- nothing.
--
-- A claim pops a queue entry and writes the slot's working-on key in the same
-- step. A slot whose working-on key is already set (a reply we never saw, or a
-- previous process under the same name that died mid-job) gets that job back
-- instead of a new one. An entry that is not a JSON object with a string
-- `class` goes straight to the failed list and the slot tries the next entry.
--
-- KEYS: statProcessed, statFailed, failedList, step id key
--       (`<ns>:rusque:cycle:<name>:<queues>`: the key keeps its historical name),
--       per ack: workingOn, statProcessedName, statFailedName
--       per queue: queueKey
--       per claim: workingOn, statFailedName
-- ARGV: nAcks, nQueues, nClaims, failedAt, step id (token:sequence, fixed-width),
--       per ack: expected working-on, outcome (s | f | n), failed entry or ''
--       per queue: working-on prefix, queue name
--       per claim: working-on suffix, worker name
-- Returns { ackFlags, claims, bad } where claims[i] = { queueIndex, raw }
-- (queueIndex 0: nothing, -1: resumed, raw is then the working-on value) and
-- bad = list of { queueIndex, raw, reason, claimIndex }.
-- Entries must be UTF-8: the worker reads them as JS strings, and an ack
-- compares the working-on value byte for byte with what it was told.
local function valid_utf8(s)
  local i = 1
  local n = #s
  while true do
    local j = string.find(s, '[\128-\255]', i)
    if not j then return true end
    local c = string.byte(s, j)
    local len
    if c >= 194 and c <= 223 then len = 2
    elseif c >= 224 and c <= 239 then len = 3
    elseif c >= 240 and c <= 244 then len = 4
    else return false end
    if j + len - 1 > n then return false end
    for k = j + 1, j + len - 1 do
      local d = string.byte(s, k)
      if d < 128 or d > 191 then return false end
    end
    local d1 = string.byte(s, j + 1)
    if (c == 224 and d1 < 160) or (c == 237 and d1 > 159) or (c == 240 and d1 < 144) or (c == 244 and d1 > 143) then
      return false
    end
    i = j + len
  end
end

local nAcks = tonumber(ARGV[1])
local nQueues = tonumber(ARGV[2])
local nClaims = tonumber(ARGV[3])
local failedAt = ARGV[4]

-- node-resque's failure record ({ worker, queue, payload, exception, error,
-- backtrace, failed_at }) for an entry this step files itself: the only one
-- built in Lua. The others are built by lib/resque/failure.js (JS loop) and
-- payload::failure in crates/resque/src/payload.rs (Rust loop), in the same
-- shape. Built as text, not with cjson.encode of a table: that would reorder
-- the keys and write an empty backtrace as {}. `queue` and `payload` are JSON
-- text already (queue: 'null' when there is none).
local function failure_record(worker, queue, payload, reason)
  return '{"worker":' .. cjson.encode(worker) .. ',"queue":' .. queue .. ',"payload":' .. payload ..
    ',"exception":"InvalidPayload","error":' .. cjson.encode(reason) ..
    ',"backtrace":[],"failed_at":' .. cjson.encode(failedAt) .. '}'
end
local seen = step_seen(KEYS[4], ARGV[5])
if seen ~= 'new' then
  -- 'again': ran already; report the acks done and what the claiming slots
  -- hold. 'stale': its sender has moved on (and does not read this reply).
  local again = seen == 'again'
  local acked, claims = {}, {}
  if again then for i = 1, nAcks do acked[i] = 1 end end
  local k = 4 + 3 * nAcks + nQueues
  for i = 1, nClaims do
    local current = again and redis.call('get', KEYS[k + 1])
    if current then claims[i] = { -1, current } else claims[i] = { 0 } end
    k = k + 2
  end
  return { acked, claims, {} }
end
local k = 4
local a = 5
local acked = {}
-- Working-on keys this step's acks emptied: a claim there need not look.
local cleared = {}
for i = 1, nAcks do
  local wkey = KEYS[k + 1]
  if redis.call('get', wkey) == ARGV[a + 1] then
    local outcome = ARGV[a + 2]
    -- The failure record first: if the failed list is not a list, this
    -- fails before the job's key is cleared.
    if outcome == 'f' then redis.call('rpush', KEYS[3], ARGV[a + 3]) end
    redis.call('del', wkey)
    cleared[wkey] = true
    -- pcall: a counter holding something INCR refuses must not undo the ack.
    if outcome == 's' then
      redis.pcall('incr', KEYS[1])
      redis.pcall('incr', KEYS[k + 2])
    elseif outcome == 'f' then
      redis.pcall('incr', KEYS[2])
      redis.pcall('incr', KEYS[k + 3])
    end
    acked[i] = 1
  else
    acked[i] = 0
  end
  k = k + 3
  a = a + 3
end
-- The acks are in: from here on this step counts as run (its claims are
-- safe to repeat: they land only in empty keys, and a resend reports what
-- the keys hold), even if a claim below fails.
step_done(KEYS[4], ARGV[5])
local qk = k
local qa = a
k = k + nQueues
a = a + 2 * nQueues
local claims = {}
local bad = {}
local q = 1
local badLeft = 100
for i = 1, nClaims do
  local wkey = KEYS[k + 1]
  local current = false
  if not cleared[wkey] then current = redis.call('get', wkey) end
  if current and not valid_utf8(current) then
    -- Not ours to compare or parse: park it in failed and claim afresh.
    redis.call('rpush', KEYS[3], failure_record(ARGV[a + 2], 'null', '"(not UTF-8; ' .. #current .. ' bytes)"',
      'working-on value is not valid UTF-8'))
    redis.pcall('incr', KEYS[2])
    redis.pcall('incr', KEYS[k + 2])
    redis.call('del', wkey)
    current = false
  end
  if current then
    claims[i] = { -1, current }
  else
    claims[i] = { 0 }
    while q <= nQueues and badLeft > 0 do
      local raw = redis.pcall('lpop', KEYS[qk + q])
      if type(raw) == 'table' then
        -- A key of another type holds no jobs; any other refusal (an ACL) is the caller's to see.
        if string.sub(raw.err or '', 1, 9) ~= 'WRONGTYPE' then return redis.error_reply(raw.err) end
        raw = false
      end
      if raw then
        local utf8 = valid_utf8(raw)
        local ok, job = false, nil
        if utf8 then ok, job = pcall(cjson.decode, raw) end
        if ok and type(job) == 'table' and type(job['class']) == 'string' then
          redis.call('set', wkey, ARGV[qa + 2 * q - 1] .. raw .. ARGV[a + 1])
          claims[i] = { q, raw }
          break
        end
        local reason
        if not utf8 then
          reason = 'queue entry is not valid UTF-8'
        elseif not ok then
          reason = 'queue entry is not valid JSON'
        elseif type(job) ~= 'table' then
          reason = 'queue entry is not a JSON object'
        else
          reason = 'queue entry has no "class" string naming the job'
        end
        local payload = utf8 and cjson.encode(raw) or '"(not UTF-8; ' .. #raw .. ' bytes)"'
        redis.call('rpush', KEYS[3], failure_record(ARGV[a + 2], cjson.encode(ARGV[qa + 2 * q]), payload, reason))
        redis.pcall('incr', KEYS[2])
        redis.pcall('incr', KEYS[k + 2])
        bad[#bad + 1] = { q, raw, reason, i }
        badLeft = badLeft - 1
      else
        q = q + 1
      end
    end
  end
  k = k + 2
  a = a + 2
end
return { acked, claims, bad }
