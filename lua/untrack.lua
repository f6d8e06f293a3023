-- The Rust loop's unregistering of a slot (crates/resque/src/worker.rs,
-- Slot::untrack), unless its working-on key holds a job: that job must run
-- (or stay for recovery) before the slot goes.
--
-- KEYS: workers set, ping, working-on, started, stat:failed:<worker>,
--       stat:processed:<worker>, step id key.
-- ARGV: the slot's `name:queues` entry in the workers set.
-- Returns 1 when unregistered, 0 when the working-on key holds a job
-- (nothing changed).
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return 1
