-- The Rust loop's step (crates/resque/src/worker.rs), one per job: acknowledges
-- the slot's previous job (writes its output key, clears the working-on key,
-- counts it as processed), then claims the next entry: pops it from the first
-- non-empty queue and records it as the slot's working-on payload in the same
-- atomic step. When the entry names its input by Redis key
-- (`args[0].input.key`), that key's size comes back too, and its value when
-- that is small (at most ARGV[11] bytes); a larger value the slot reads with
-- one plain GET (or not at all, when it is over the job's maxInputBytes).
-- Included by worker.rs with step-id.lua prepended (step_seen, step_done).
--
-- A value copied into Lua and back out costs the script more than a plain
-- GET of it costs Redis (a 4 KiB input: about 20 us of script instead of
-- 17.5), but a GET of its own costs Redis and the worker a round trip more,
-- which for small values is the larger cost (worker.rs STEP_INPUT_BYTES has
-- the measurements).
--
-- Each step carries an id (the slot's random token and a sequence), kept in
-- the slot's step id key, as the JS loop's steps do (step-js.lua): a step sent
-- again after its reply was lost (with the same id and ack) changes nothing if
-- it ran, and returns what the working-on key holds; an older step arriving
-- late (sent on a connection that timed out, run by Redis after the slot
-- reconnected) changes nothing at all.
--
-- Besides, the ack clears and counts only while the key still holds the
-- record of the job it acks, and a claim is made only into an empty key;
-- otherwise the record there comes back to be run. A record found is
-- returned even when not claiming (a stopping slot runs it before it goes).
--
-- KEYS: working-on, stat:processed, stat:processed:<worker>, step id key
--       (`<ns>:rusque:cycle:<name>:<queues>`: the key keeps its historical name),
--       queue lists...
-- ARGV: ack (0: none, 1: ack, 2: ack and write the output key, 3: ack and
--       answer a remote call), output key (3: the caller's reply list),
--       output bytes (3: the reply), output ttl ('' = none) (on a Redis
--       Cluster the loop writes the output itself, before the step, and
--       sends ack 1),
--       claim (0: no, 1: claim, 2: claim without looking up the input key:
--       on a Redis Cluster a script may touch only its KEYS, and the input
--       key is in a slot of its own), run_at, worker name,
--       the acked job's working-on record, step id (token:sequence, fixed-width),
--       the remote call's input key (3 only; else ''),
--       the largest input value returned with a claim (bytes),
--       queue names (in the order of the queue lists in KEYS)...
--
-- A remote call's answer (crates/resque/src/remote.rs) is pushed only while
-- its input key exists (a caller that gave up deleted it first, and nobody
-- would read the answer), and the input is deleted once the push is in: a
-- push Redis refuses (maxmemory, a reply too large) leaves the input and
-- writes nothing (scripts do not roll back), so the worker can answer with
-- a small error instead (worker.rs step).
-- Returns nil; {-1, the record the key holds}; or {queue index (1-based),
-- entry, input key | nil, its size in bytes (0: no such key) | nil, error
-- reading its size (a key of another type) | nil, the record written, the
-- input's value when it is 1 to ARGV[11] bytes | nil}.
local seen = step_seen(KEYS[4], ARGV[9])
if seen ~= 'new' then
  -- Applied already, or overtaken: what the key holds, for a resent step.
  local held = seen == 'again' and redis.call('GET', KEYS[1])
  if held then return {-1, held} end
  return false
end
local held = redis.call('GET', KEYS[1])
if ARGV[1] ~= '0' then
  if ARGV[1] == '3' then
    if redis.call('EXISTS', ARGV[10]) == 1 then
      redis.call('RPUSH', ARGV[2], ARGV[3])
      redis.call('EXPIRE', ARGV[2], ARGV[4])
      redis.call('DEL', ARGV[10])
    end
  elseif ARGV[1] == '2' then
    if ARGV[4] ~= '' then
      redis.call('SET', ARGV[2], ARGV[3], 'EX', ARGV[4])
    else
      redis.call('SET', ARGV[2], ARGV[3])
    end
  end
  if held == ARGV[8] then
    redis.call('DEL', KEYS[1])
    -- pcall: a counter someone set to a non-number must not undo the ack.
    redis.pcall('INCR', KEYS[2])
    redis.pcall('INCR', KEYS[3])
    held = false
  end
end
step_done(KEYS[4], ARGV[9])
if held then return {-1, held} end
if ARGV[5] ~= '0' then
  for i = 5, #KEYS do
    local entry = redis.pcall('LPOP', KEYS[i])
    if type(entry) == 'table' then entry = false end -- not a list: no jobs there
    if entry then
      local ok, job = pcall(cjson.decode, entry)
      local payload = entry
      if not ok then payload = cjson.encode(entry) end
      local record = '{"run_at":' .. cjson.encode(ARGV[6]) .. ',"queue":' .. cjson.encode(ARGV[7 + i]) ..
        ',"worker":' .. cjson.encode(ARGV[7]) .. ',"payload":' .. payload .. '}'
      redis.call('SET', KEYS[1], record)
      local key, size, err = false, false, false
      if ARGV[5] == '1' and ok and type(job) == 'table' and type(job.args) == 'table' and type(job.args[1]) == 'table'
          and type(job.args[1].input) == 'table' and type(job.args[1].input.key) == 'string' then
        key = job.args[1].input.key
        size = redis.pcall('STRLEN', key)
        if type(size) == 'table' then
          err = size.err or 'STRLEN failed'
          size = false
        end
      end
      local value = false
      if type(size) == 'number' and size > 0 and size <= tonumber(ARGV[11]) then value = redis.call('GET', key) end
      return {i - 4, entry, key, size, err, record, value}
    end
  end
end
return false
