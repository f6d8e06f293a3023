-- Takes over a dead worker's registration and its in-flight job, if nothing
-- changed since we looked (its ping and working-on values are compared). Run
-- by the JS side: survivors' recovery (lib/resque/recovery.js) and a Worker
-- giving back a job at end() (lib/resque/worker.js). The job goes back to the
-- front of its queue ('requeue') or into the failed list ('fail').
--
-- KEYS: ping, workersSet, workingOn, started, statFailedName, statProcessedName,
--       target list (queue key to re-queue to, or the failed list), statFailed
-- ARGV: expected ping, expected working-on ('' when none), workers-set entry,
--       mode (requeue | fail), entry to push (the job, or its failure record)
-- Returns 1 when taken over, 0 when anything changed (nothing done).
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
local wo = redis.call('get', KEYS[3])
if ARGV[2] == '' then
  if wo then return 0 end
else
  if wo ~= ARGV[2] then return 0 end
  if ARGV[4] == 'requeue' then
    redis.call('lpush', KEYS[7], ARGV[5])
  else
    redis.call('rpush', KEYS[7], ARGV[5])
    redis.pcall('incr', KEYS[8])
  end
end
redis.call('srem', KEYS[2], ARGV[3])
redis.call('del', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return 1
