-- The Rust loop's failure filing (crates/resque/src/worker.rs, Slot::fail):
-- records a failed job in the failed list, clears the working-on key and
-- counts it, only while the key holds the job's record (as step-rust.lua's
-- ack). The record goes first and the counters last, with pcall: a counter
-- that holds something INCR refuses (a job could write there before keys were
-- checked, or anyone can) must not cost the record. If the failed list itself
-- is not a list, the RPUSH fails before anything changed. (The JS loop files
-- failures with its step's acks, in step-js.lua.)
--
-- KEYS: working-on, stat:failed, stat:failed:<worker>, failed list.
-- ARGV: the job's working-on record, the failure record (built by
--       payload::failure in crates/resque/src/payload.rs).
-- Returns 1 when filed, 0 when the key held something else (nothing changed).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[1])
redis.pcall('INCR', KEYS[2])
redis.pcall('INCR', KEYS[3])
return 1
