-- Puts the Rust loop's job back in the delayed queue (crates/resque/src/plugins.rs,
-- PluginJob::re_enqueue), for Retry (a failed job with attempts left) and
-- JobLock (a job whose lock another worker holds): as node-resque's enqueueIn
-- writes it (the `delayed:<s>` list, the `timestamps:<entry>` set, the
-- `delayed_queue_schedule` zset, which its Scheduler reads), and leaves the
-- working-on key; all only while that key holds the job's record, as an ack.
-- A job already delayed for that second is refused, as enqueueAt refuses it.
-- Retry's attempt is counted as failed (node-resque's Retry decrements
-- processed and increments failed, then the job completes and increments
-- processed again: processed ends where it was, but exists, so INCRBY 0);
-- JobLock's is not counted at all. Without an entry (JobLock with reEnqueue
-- false) the job only leaves the working-on key.
--
-- KEYS: working-on, stat:processed, stat:processed:<worker>, stat:failed,
--       stat:failed:<worker>, delayed:<s>, timestamps:<entry>, delayed_queue_schedule.
-- ARGV: the job's working-on record, the delayed entry ('' for none), the
--       second (unix), count as failed ('1' | '0').
-- Returns 1 when done, -1 when that entry is delayed for that second
-- already, 0 when the key held something else (nothing changed either way).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then
  local member = 'delayed:' .. ARGV[3]
  if redis.call('SISMEMBER', KEYS[7], member) == 1 then return -1 end
  redis.call('RPUSH', KEYS[6], ARGV[2])
  redis.call('SADD', KEYS[7], member)
  redis.call('ZADD', KEYS[8], ARGV[3], ARGV[3])
end
redis.call('DEL', KEYS[1])
if ARGV[4] == '1' then
  -- pcall: a counter someone set to a non-number must not undo the rest.
  redis.pcall('INCRBY', KEYS[2], 0)
  redis.pcall('INCRBY', KEYS[3], 0)
  redis.pcall('INCR', KEYS[4])
  redis.pcall('INCR', KEYS[5])
end
return 1
