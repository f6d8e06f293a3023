'use strict'

// Runs the same queue entries through both worker loops: a Worker whose jobs
// are all native() runs the Rust loop; the same jobs plus a JS job run the JS
// loop (native jobs then go through lib/resque/native-job.js).

const assert = require('node:assert/strict')
const { Worker } = require('../..')
const { waitFor } = require('./events')

const LOOPS = [
  { kind: 'JS loop', rust: false, extra: { jsJob: (x) => x } },
  { kind: 'Rust loop', rust: true, extra: {} }
]

/**
 * Pushes `entries` (objects, or raw strings) to `ns`'s queue `q`, runs a fresh
 * worker of `loop` over them until each has succeeded or failed, ends it, and
 * returns { outcomes, worker, seen }: outcomes[i] is { ok: true, result } or
 * { ok: false, exception, error, code } (from the failed record and event).
 * Entries must carry a distinct args[1].tag (a number) to be matched (args[0]
 * is the native job's argument, where an unknown key is refused).
 */
async function runEntries (server, redis, loop, { ns, q = 'q', jobs, entries, options = {}, ms = 30000, before }) {
  for (const e of entries) await redis.rpush(`${ns}:queue:${q}`, typeof e === 'string' ? e : JSON.stringify(e))
  const w = new Worker({ connection: server.connection(ns), queues: [q], timeout: 50, ...options }, { ...jobs, ...loop.extra })
  assert.equal(w.nativeLoop, loop.rust, `${loop.kind} expected`)
  const seen = { success: [], failure: [], error: [] }
  for (const k of Object.keys(seen)) w.on(k, (...args) => seen[k].push(args))
  if (before) await before(w)
  await w.connect()
  await w.start()
  await waitFor(() => seen.success.length + seen.failure.length >= entries.length, { ms, what: `${entries.length} outcomes from the ${loop.kind}` })
  await w.end()
  const tagOf = (job) => job && job.args && job.args[1] && job.args[1].tag
  const outcomes = entries.map((e) => {
    const tag = typeof e === 'string' ? JSON.parse(e).args[1].tag : e.args[1].tag
    const s = seen.success.find(([, job]) => tagOf(job) === tag)
    if (s) return { ok: true, result: s[2] }
    const f = seen.failure.find(([, job]) => tagOf(job) === tag)
    if (!f) return { ok: false, missing: true }
    return { ok: false, error: f[2].message, code: f[2].code, name: f[2].name }
  })
  return { outcomes, worker: w, seen }
}

module.exports = { LOOPS, runEntries }
