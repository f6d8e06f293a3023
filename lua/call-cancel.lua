-- Gives up a remote call (lib/remote.js: its timeout passed, its signal
-- aborted, or the remote was closed): removes its entry if no worker has
-- claimed it yet, deletes its input (a worker running it sees that and
-- stops, and will not answer: lua/step-rust.lua answers only while the
-- input exists), and removes its answer if one was pushed already. So a
-- call leaves no key behind, whenever it is given up.
--
-- KEYS[1]: the queue list; KEYS[2]: the call's input key; KEYS[3]: the
--          caller's reply list.
-- ARGV[1]: the call's queue entry, byte for byte; ARGV[2]: what its reply
--          starts with (crates/resque/src/remote.rs reply_prefix).
-- Returns 1 if the entry was still queued (no worker saw it), else 0.
--
-- The reply is looked for among the first SCAN replies only: Redis copies
-- every element read into Lua (a reply may hold 256 MiB), and a list has
-- no command that matches a prefix. A caller's list holds only the replies
-- its one BLPOP has not popped yet, so its give-up's reply is near the
-- head; one further back (a caller that stopped popping) expires with the
-- list, at the call's TTL.
local SCAN = 16
-- pcall: a queue key of another type (the send failed on it) must not
-- keep the input from being deleted.
local queued = redis.pcall('LREM', KEYS[1], 1, ARGV[1])
if type(queued) ~= 'number' then queued = 0 end
redis.call('DEL', KEYS[2])
local n = #ARGV[2]
for _, reply in ipairs(redis.call('LRANGE', KEYS[3], 0, SCAN - 1)) do
  if string.sub(reply, 1, n) == ARGV[2] then
    redis.call('LREM', KEYS[3], 1, reply)
    break
  end
end
return queued
