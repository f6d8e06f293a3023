-- Counts a resume: a worker process that starts and finds a job left in its
-- slot's working-on key (an earlier process of the same name died running it)
-- calls this before running the job again. Both loops run this script (the
-- JS loop loads it in lib/resque/scripts.js, the Rust loop includes it in
-- crates/resque/src/worker.rs).
--
-- The count belongs to that exact working-on value (its SHA-1 is kept beside
-- the count), so a count left by another job never counts against this one.
--
-- KEYS[1]: the slot's working-on key; KEYS[2]: its resume counter (a hash,
--          `<ns>:rusque:resumes:<name>:<queues>`).
-- ARGV: none.
-- Returns how many times in a row this job has been resumed, this time
-- included; 0 when the slot holds nothing.
local held = redis.call('get', KEYS[1])
if not held then return 0 end
local id = redis.sha1hex(held)
local n = 1
if redis.call('hget', KEYS[2], 'job') == id then
  n = redis.call('hincrby', KEYS[2], 'n', 1)
else
  redis.call('del', KEYS[2])
  redis.call('hset', KEYS[2], 'job', id, 'n', 1)
end
redis.call('expire', KEYS[2], 86400)
return n
