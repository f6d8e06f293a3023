'use strict'

// Symlink swap races against roots. A separate process keeps swapping a file
// and a directory inside the root for symlinks that lead outside (and back),
// while each loop runs thousands of path jobs that read that file or a file
// in that directory and write into that directory. Not one job may read the
// outside secret or write outside the root, and every job must end with a
// result or a coded failure. (Checking a path and then opening it lost this
// race: files are opened beneath the root's descriptor instead, see
// crates/resque/src/files.rs.)

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { once } = require('node:events')
const { Worker, native } = require('..')
const { startRedis } = require('./helpers/redis')
const { LOOPS } = require('./helpers/loops')
const { waitFor } = require('./helpers/events')

const JOBS_PER_LOOP = 2500
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')
const SECRET = 'SECRET: outside the root'

// Runs until `stop` exists, then puts the real file and directory back and
// prints how many swaps it made.
const SWAPPER = `
const fs = require('fs')
const path = require('path')
const [root, outside, stop] = [process.env.ROOT, process.env.OUTSIDE, process.env.STOP]
const file = path.join(root, 'file.txt')
const dir = path.join(root, 'd')
let swaps = 0
for (;;) {
  if (swaps % 50 === 0 && fs.existsSync(stop)) break
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, '.link'))
  fs.renameSync(path.join(root, '.link'), file)
  fs.writeFileSync(path.join(root, '.real'), 'inside')
  fs.renameSync(path.join(root, '.real'), file)
  fs.renameSync(dir, path.join(root, 'd.aside'))
  fs.symlinkSync(path.join(outside, 'd'), dir)
  fs.unlinkSync(dir)
  fs.renameSync(path.join(root, 'd.aside'), dir)
  swaps++
}
console.log(swaps)
`

let server
let redis
let tmp
let root
let outside

/** Every file under `dir`: name, size, mtime and content hash. */
function snapshot (dir) {
  const out = {}
  for (const name of fs.readdirSync(dir, { recursive: true })) {
    const p = path.join(dir, name)
    const st = fs.lstatSync(p)
    out[name] = st.isFile() ? [st.size, st.mtimeMs, sha256(fs.readFileSync(p))] : [st.isDirectory() ? 'dir' : 'other', st.mtimeMs]
  }
  return out
}

before(async () => {
  server = await startRedis()
  redis = server.client()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-race-'))
  root = path.join(tmp, 'root')
  outside = path.join(tmp, 'outside')
  fs.mkdirSync(path.join(root, 'd'), { recursive: true })
  fs.mkdirSync(path.join(outside, 'd'), { recursive: true })
  fs.writeFileSync(path.join(root, 'file.txt'), 'inside')
  fs.writeFileSync(path.join(root, 'd', 'in.txt'), 'inside-d')
  fs.writeFileSync(path.join(outside, 'secret.txt'), SECRET)
  fs.writeFileSync(path.join(outside, 'd', 'in.txt'), SECRET)
})

after(async () => {
  await server.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

const ALLOWED = new Set(['ERR_PATH_OUTSIDE_ROOTS', 'ERR_INPUT_NOT_FOUND', 'ERR_OUTPUT_NOT_FOUND'])

describe('symlink swaps inside a root while jobs run', () => {
  for (const loop of LOOPS) {
    it(`${loop.kind}: no read or write outside the root in ${JOBS_PER_LOOP} jobs`, async (t) => {
      const ns = `race-${loop.rust ? 'rust' : 'js'}`
      const before = snapshot(outside)
      const entries = []
      for (let i = 0; i < JOBS_PER_LOOP; i++) {
        const input = i % 2 === 0 ? path.join(root, 'file.txt') : path.join(root, 'd', 'in.txt')
        entries.push(JSON.stringify({ class: 'digest', queue: 'q', args: [{ input: { path: input }, output: { path: path.join(root, 'd', `o-${i % 64}.txt`) } }, { tag: i }] }))
      }
      const multi = redis.multi()
      for (const e of entries) multi.rpush(`${ns}:queue:q`, e)
      await multi.exec()

      const stop = path.join(tmp, `stop-${ns}`)
      const swapper = spawn(process.execPath, ['-e', SWAPPER], { env: { ...process.env, ROOT: root, OUTSIDE: outside, STOP: stop }, stdio: ['ignore', 'pipe', 'inherit'] })
      let swaps = ''
      swapper.stdout.on('data', (d) => { swaps += d })
      const exited = once(swapper, 'exit')

      const w = new Worker({ connection: server.connection(ns), queues: ['q'], timeout: 50, concurrency: 4, roots: [root] }, { digest: native('hash', 'sha256'), ...loop.extra })
      assert.equal(w.nativeLoop, loop.rust)
      const results = []
      const failures = []
      const errors = []
      w.on('success', (q, job, result) => results.push(result))
      w.on('failure', (q, job, err) => failures.push(err))
      w.on('error', (err) => errors.push(err))
      try {
        await w.connect()
        await w.start()
        await waitFor(() => results.length + failures.length >= JOBS_PER_LOOP, { ms: 120000, what: 'every job to end' })
        await w.end()
      } finally {
        fs.writeFileSync(stop, '')
        await exited
      }
      assert.ok(Number(swaps) > 0, 'the swapper ran')
      const count = (code) => failures.filter((e) => e.code === code).length
      t.diagnostic(`${Number(swaps)} swaps; ${results.length} jobs read inside; refused: ${count('ERR_PATH_OUTSIDE_ROOTS')} outside, ${count('ERR_INPUT_NOT_FOUND') + count('ERR_OUTPUT_NOT_FOUND')} not found`)

      // Zero reads outside: every result is the hash of an inside file.
      const inside = new Set([sha256('inside'), sha256('inside-d')])
      const leaked = results.filter((r) => !inside.has(r))
      assert.equal(leaked.length, 0, `${leaked.length} jobs read the outside secret`)
      // Zero writes outside: the outside tree is as it was.
      assert.deepEqual(snapshot(outside), before, 'nothing outside changed')
      assert.deepEqual(errors, [])
      assert.equal(results.length + failures.length, JOBS_PER_LOOP, 'no job lost')
      assert.equal(await redis.llen(`${ns}:failed`), failures.length)
      const uncoded = failures.filter((e) => !ALLOWED.has(e.code))
      assert.deepEqual(uncoded.map((e) => `${e.code}: ${e.message}`), [], 'every failure is a coded refusal')
      assert.ok(failures.some((e) => e.code === 'ERR_PATH_OUTSIDE_ROOTS'), 'some jobs met a swapped-in symlink')
      for (const name of fs.readdirSync(path.join(root, 'd'))) {
        if (name === 'in.txt') continue
        assert.match(name, /^o-\d+\.txt$/, 'no temporary file left behind')
        assert.ok(inside.has(fs.readFileSync(path.join(root, 'd', name), 'utf8')))
      }
    })
  }
})
