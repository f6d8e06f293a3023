-- Step ids: two functions shared by both loops' step scripts, step-js.lua
-- and step-rust.lua. It is not a script of its own: each loader prepends it
-- to them (lib/resque/scripts.js by concatenation, crates/resque/src/worker.rs
-- with concat!), so the two loops cannot disagree on what a step id means.
--
-- KEYS: none of its own; the functions take the step id key (the worker's
--       `<ns>:rusque:cycle:<name>:<queues>`, a name kept from when the JS loop
--       called its step a cycle) from the script they are prepended to.
-- ARGV: none of its own; the functions take the step id from that script's.
-- Returns: nothing; defines step_seen(key, id) and step_done(key, id).
--
-- Each step (ack and claim) carries an id: 16 hex digits of its sender's
-- random token, ':', 16 decimal digits of its sequence. Fixed-width, so one
-- sender's ids compare in order as strings. The id is written once the
-- step's acks are applied (step_done), so a step that failed before that is
-- not taken for one that ran; its claims are safe to repeat either way.
--
-- step_seen says what a step is: 'new'; 'again' (this very step ran
-- already: its reply was lost and it was sent again); or 'stale' (an older
-- step of the same sender, arriving late).
local function step_seen(key, id)
  local last = redis.call('GET', key)
  if last == id then return 'again' end
  if last and last > id and #last == #id and string.sub(last, 1, 17) == string.sub(id, 1, 17) then
    return 'stale'
  end
  return 'new'
end

local function step_done(key, id)
  redis.call('SET', key, id, 'EX', 86400)
end
