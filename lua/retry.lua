-- The Rust loop's Retry plugin (crates/resque/src/plugins.rs, RetryJob::re_enqueue):
-- a failed job with attempts left goes to the delayed queue as node-resque's
-- enqueueIn writes it (the `delayed:<s>` list, the `timestamps:<entry>` set,
-- the `delayed_queue_schedule` zset, which its Scheduler reads), is counted
-- as failed (node-resque's Retry decrements processed and increments failed,
-- then the job completes and increments processed again: processed ends
-- where it was, but exists, so INCRBY 0), and leaves the working-on key; all
-- only while that key holds the job's record, as an ack. A job already
-- delayed for that second is refused, as enqueueAt refuses it.
--
-- KEYS: working-on, stat:processed, stat:processed:<worker>, stat:failed,
--       stat:failed:<worker>, delayed:<s>, timestamps:<entry>, delayed_queue_schedule.
-- ARGV: the job's working-on record, the delayed entry, the second (unix).
-- Returns 1 when re-enqueued, -1 when that entry is delayed for that second
-- already, 0 when the key held something else (nothing changed either way).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local member = 'delayed:' .. ARGV[3]
if redis.call('SISMEMBER', KEYS[7], member) == 1 then return -1 end
redis.call('RPUSH', KEYS[6], ARGV[2])
redis.call('SADD', KEYS[7], member)
redis.call('ZADD', KEYS[8], ARGV[3], ARGV[3])
redis.call('DEL', KEYS[1])
-- pcall: a counter someone set to a non-number must not undo the rest.
redis.pcall('INCRBY', KEYS[2], 0)
redis.pcall('INCRBY', KEYS[3], 0)
redis.pcall('INCR', KEYS[4])
redis.pcall('INCR', KEYS[5])
return 1
