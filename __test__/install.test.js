'use strict'

// The proof that rusque installs like a napi-rs package should: the main
// package and the linux-x64-gnu package are packed as a release would publish
// them (scripts/stage-release.js), installed into a fresh Express 5 app with
// no Rust toolchain or C compiler reachable, and driven over loopback.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const { spawn, spawnSync, execFileSync } = require('node:child_process')
const { dir: fixturesDir, fixture } = require('./helpers/fixtures')
const { startRedis } = require('./helpers/redis')
const { currentPlatform } = require('../lib/load')

const root = path.resolve(__dirname, '..')
const platform = currentPlatform()
const artifact = path.join(root, `rusque.${platform}.node`)
const LIFECYCLE = ['preinstall', 'install', 'postinstall', 'prepare']
// Build tools a source build would reach for. Each is shadowed by a shim that
// records the call, so "nothing was compiled" is an observed fact.
const BUILD_TOOLS = ['cargo', 'rustc', 'rustup', 'node-gyp', 'napi', 'cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'nasm', 'zig', 'python3']

const SERVER = `'use strict'
const express = require('express')
const { resize, JobQueue, poolInfo } = require('rusque')

const app = express()
const queue = new JobQueue({ concurrency: 1, maxQueued: 2 })
const body = express.raw({ type: () => true, limit: '20mb' })

function options (q) {
  return { width: Number(q.width), height: q.height === undefined ? undefined : Number(q.height), format: q.format }
}
function fail (res, err) {
  const status = err.code === 'ERR_QUEUE_FULL' ? 503 : err.code === 'ERR_INTERNAL' ? 500 : 400
  if (status === 503) res.set('Retry-After', '1')
  res.status(status).json({ code: err.code, message: err.message })
}

app.get('/health', (req, res) => res.json({ ok: true, waiting: queue.size }))
app.post('/resize', body, async (req, res) => {
  try {
    const out = await resize(req.body, options(req.query))
    res.type(req.query.format).send(out)
  } catch (err) { fail(res, err) }
})
app.post('/queued', body, async (req, res) => {
  try {
    const out = await queue.add('resize', req.body, options(req.query))
    res.type(req.query.format).send(out)
  } catch (err) { fail(res, err) }
})

const server = app.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port, pool: poolInfo(), pid: process.pid }))
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
`

const ESM = `import { resize, metadata, hash, JobQueue, RusqueError } from 'rusque'
import rusque from 'rusque'
import { readFileSync } from 'node:fs'
const input = readFileSync(process.argv[2])
const out = await resize(input, { width: 64, format: 'png' })
console.log(JSON.stringify({
  meta: await metadata(out),
  hash: (await hash(out)).length,
  queue: typeof JobQueue,
  error: typeof RusqueError,
  defaultHasResize: rusque.resize === resize
}))
`

// rusque/resque from the installed package: the migration is this one import.
const RESQUE_CJS = `const resque = require('rusque/resque')
const rusque = require('rusque')
const nodeResque = require('node-resque')
console.log(JSON.stringify({
  worker: resque.Worker === rusque.Worker,
  multi: resque.MultiWorker === rusque.MultiWorker,
  queue: resque.Queue === nodeResque.Queue,
  others: ['Connection', 'Scheduler', 'Plugin', 'Plugins'].every((n) => resque[n] === nodeResque[n])
}))
`
const RESQUE_ESM = `import { Worker, MultiWorker, Queue, Connection, Scheduler, Plugin, Plugins } from 'rusque/resque'
import resque from 'rusque/resque'
import rusque from 'rusque'
import nodeResque from 'node-resque'
console.log(JSON.stringify({
  worker: Worker === rusque.Worker && resque.Worker === Worker,
  multi: MultiWorker === rusque.MultiWorker,
  queue: Queue === nodeResque.Queue,
  others: Connection === nodeResque.Connection && Scheduler === nodeResque.Scheduler && Plugin === nodeResque.Plugin && Plugins === nodeResque.Plugins
}))
`

// Workers from the installed package against a private redis-server: the JS
// loop (its step script read from the installed lua/ at run time; a bad
// entry filed by that script, a throwing job by lib/resque/failure.js) and
// the Rust loop (its scripts built into the binary).
const WORKERS = `const { Worker, native } = require('rusque')
const { Queue } = require('node-resque')
const connection = { host: '127.0.0.1', port: Number(process.argv[2]), namespace: 'installed' }

async function run (q, jobs, entries, expected) {
  const queue = new Queue({ connection })
  await queue.connect()
  const worker = new Worker({ connection, queues: [q], timeout: 50 }, jobs)
  worker.on('error', (err) => { console.error(err); process.exitCode = 1 })
  const seen = { success: [], failure: [] }
  const done = new Promise((resolve) => {
    const note = (kind) => (queue, job, value) => { seen[kind].push(kind === 'success' ? value : value.name); if (seen.success.length + seen.failure.length === expected) resolve() }
    worker.on('success', note('success'))
    worker.on('failure', note('failure'))
  })
  await worker.connect()
  for (const [cls, args] of entries) {
    if (cls === null) await queue.connection.redis.rpush(queue.connection.key('queue', q), args)
    else await queue.enqueue(q, cls, args)
  }
  await worker.start()
  await done
  const loop = worker.nativeLoop ? 'rust' : 'js'
  await worker.end()
  const failed = (await queue.failed(0, -1)).map((f) => f.exception)
  await queue.connection.redis.del(queue.connection.key('failed'))
  await queue.end()
  return { loop, ...seen, failed }
}

async function main () {
  const js = await run('js', { add: (a, b) => a + b, boom: () => { throw new TypeError('no') } },
    [['add', [2, 3]], [null, '{not json'], ['boom', []]], 3)
  const rust = await run('rust', { digest: native('hash', { algorithm: 'sha256' }) },
    [['digest', [{ input: { base64: 'YWJj' } }]], ['nope', []]], 2)
  console.log(JSON.stringify({ js, rust }))
}
main().catch((err) => { console.error(err); process.exit(1) })
`

function cleanEnv (extra) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    // npm test leaves npm_config_* and lifecycle variables behind; the app is a stranger to them.
    if (k.startsWith('npm_') || k === 'NAPI_RS_NATIVE_LIBRARY_PATH' || k === 'CARGO_TARGET_DIR') continue
    env[k] = v
  }
  return { ...env, ...extra }
}

function request (port, method, url, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.request({ host: '127.0.0.1', port, method, path: url, agent: false, headers: body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {} }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started }))
      res.on('error', reject)
    })
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${url} timed out`)))
    req.on('error', reject)
    req.end(body)
  })
}

function cpuSeconds (pid) {
  // utime + stime of the server process, in clock ticks (100 per second on Linux).
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

function percentile (values, p) {
  const sorted = values.slice().sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

test('packed rusque installs into an Express 5 app without building, and serves under load', { timeout: 180000 }, async (t) => {
  assert.ok(fs.existsSync(artifact), `${artifact} is built (npm run build)`)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-install-'))
  t.after(() => fs.rmSync(work, { recursive: true, force: true }))

  // 1. Pack as a release would: main package + this platform's package.
  const artifacts = path.join(work, 'artifacts')
  fs.mkdirSync(artifacts)
  fs.copyFileSync(artifact, path.join(artifacts, path.basename(artifact)))
  const staged = JSON.parse(execFileSync(process.execPath, [path.join(root, 'scripts', 'stage-release.js'), '--artifacts', artifacts, '--out', path.join(work, 'packs'), '--partial'], { encoding: 'utf8' }))
  const mainTgz = staged.main.file
  const [plat] = staged.platforms
  assert.equal(plat.platform, platform)
  assert.deepEqual(staged.optionalDependencies, { [`rusque-${platform}`]: staged.version })
  assert.ok(!staged.main.files.some((f) => f.endsWith('.node')), `the main package ships no binary: ${staged.main.files}`)
  assert.deepEqual(plat.tarball.files.sort(), ['README.md', 'package.json', `rusque.${platform}.node`])
  for (const s of LIFECYCLE) assert.ok(!staged.scripts.includes(s), `main package has no ${s} script`)

  // 2. A fresh app; build tools shadowed by shims that record any call.
  const app = path.join(work, 'app')
  const shims = path.join(work, 'shims')
  const calls = path.join(work, 'build-tool-calls.log')
  fs.mkdirSync(app)
  fs.mkdirSync(shims)
  for (const tool of BUILD_TOOLS) {
    fs.writeFileSync(path.join(shims, tool), `#!/bin/sh\necho "${tool} $*" >> '${calls}'\nexit 127\n`, { mode: 0o755 })
  }
  // node's own folder comes after the shims so npm and node resolve; cargo's does not come at all.
  const PATH = [shims, path.dirname(process.execPath), '/usr/bin', '/bin'].join(path.delimiter)
  const env = cleanEnv({ PATH, npm_config_update_notifier: 'false' })
  const which = spawnSync('sh', ['-c', 'command -v cargo; command -v rustc; command -v cc'], { env, encoding: 'utf8' })
  assert.deepEqual(which.stdout.trim().split('\n'), ['cargo', 'rustc', 'cc'].map((x) => path.join(shims, x)))

  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'express-app', private: true, version: '1.0.0' }, null, 2))
  fs.writeFileSync(path.join(app, 'server.js'), SERVER)
  fs.writeFileSync(path.join(app, 'esm.mjs'), ESM)
  fs.writeFileSync(path.join(app, 'resque.cjs'), RESQUE_CJS)
  fs.writeFileSync(path.join(app, 'resque.mjs'), RESQUE_ESM)
  fs.writeFileSync(path.join(app, 'workers.cjs'), WORKERS)

  const npmCli = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', '--ignore-scripts=false', mainTgz, plat.tarball.file, 'express@5', 'node-resque@^9.7.1'], { cwd: app, env, encoding: 'utf8', timeout: 150000 })
  const npmOut = npmCli.stdout + npmCli.stderr
  assert.equal(npmCli.status, 0, `npm install failed:\n${npmOut}`)
  t.diagnostic(`npm: ${npmOut.trim().split('\n').pop()}`)

  // 3. No install script ran and no build tool was called.
  assert.ok(!fs.existsSync(calls), `build tools were called:\n${fs.existsSync(calls) && fs.readFileSync(calls, 'utf8')}`)
  assert.doesNotMatch(npmOut, /^> .*(preinstall|install|postinstall|prepare)$/m, 'npm ran a lifecycle script')
  assert.doesNotMatch(npmOut, /install-scripts|node-gyp|gyp info/, 'npm saw an install script')
  const withScripts = []
  const scan = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === '.bin') continue
      const p = path.join(dir, entry.name)
      if (entry.name.startsWith('@')) { scan(p); continue }
      const manifest = path.join(p, 'package.json')
      if (fs.existsSync(manifest)) {
        const scripts = JSON.parse(fs.readFileSync(manifest, 'utf8')).scripts || {}
        if (LIFECYCLE.some((s) => s !== 'prepare' && scripts[s]) || fs.existsSync(path.join(p, 'binding.gyp'))) withScripts.push(entry.name)
      }
      if (fs.existsSync(path.join(p, 'node_modules'))) scan(path.join(p, 'node_modules'))
    }
  }
  scan(path.join(app, 'node_modules'))
  assert.deepEqual(withScripts, [], 'installed packages with install scripts')
  const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'rusque', 'package.json'), 'utf8'))
  for (const s of LIFECYCLE) assert.equal((installed.scripts || {})[s], undefined, `installed rusque has a ${s} script`)
  assert.ok(fs.existsSync(path.join(app, 'node_modules', `rusque-${platform}`, `rusque.${platform}.node`)))
  assert.ok(!fs.readdirSync(path.join(app, 'node_modules', 'rusque')).some((f) => f.endsWith('.node')))

  // ESM: named and default imports from the installed package.
  const esm = spawnSync(process.execPath, ['esm.mjs', path.join(fixturesDir, 'Landscape_2.jpg')], { cwd: app, env, encoding: 'utf8' })
  assert.equal(esm.status, 0, esm.stderr)
  const esmOut = JSON.parse(esm.stdout)
  assert.equal(esmOut.meta.width, 64)
  assert.equal(esmOut.meta.format, 'png')
  assert.equal(esmOut.hash, 64)
  assert.equal(esmOut.queue, 'function')
  assert.equal(esmOut.error, 'function')
  assert.equal(esmOut.defaultHasResize, true)

  // rusque/resque: node-resque's names with rusque's workers, from require and import.
  const same = { worker: true, multi: true, queue: true, others: true }
  for (const file of ['resque.cjs', 'resque.mjs']) {
    const r = spawnSync(process.execPath, [file], { cwd: app, env, encoding: 'utf8' })
    assert.equal(r.status, 0, `${file}: ${r.stderr}`)
    assert.deepEqual(JSON.parse(r.stdout), same, file)
  }

  // Workers, both loops, from the installed package (the JS loop reads lua/ from there).
  assert.ok(fs.existsSync(path.join(app, 'node_modules', 'rusque', 'lua', 'step-js.lua')), 'the package ships lua/')
  const redisServer = await startRedis()
  t.after(() => redisServer.close())
  const workers = spawnSync(process.execPath, ['workers.cjs', String(redisServer.port)], { cwd: app, env, encoding: 'utf8', timeout: 60000 })
  assert.equal(workers.status, 0, workers.stderr)
  assert.deepEqual(JSON.parse(workers.stdout), {
    js: { loop: 'js', success: [5], failure: ['InvalidPayload', 'TypeError'], failed: ['InvalidPayload', 'TypeError'] },
    rust: { loop: 'rust', success: ['ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'], failure: ['Error'], failed: ['Error'] }
  })

  // 4. Start the app and drive it.
  const server = spawn(process.execPath, ['server.js'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let serverErr = ''
  server.stderr.on('data', (d) => { serverErr += d })
  t.after(() => server.kill('SIGKILL'))
  const ready = await new Promise((resolve, reject) => {
    let buf = ''
    server.stdout.on('data', (d) => {
      buf += d
      const line = buf.split('\n')[0]
      if (buf.includes('\n')) resolve(JSON.parse(line))
    })
    server.on('exit', (code) => reject(new Error(`server exited ${code}: ${serverErr}`)))
  })
  const { port } = ready
  t.diagnostic(`server pid ${ready.pid}, pool ${JSON.stringify(ready.pool)}`)

  const { metadata } = require(path.join(app, 'node_modules', 'rusque'))
  const inputs = ['Landscape_1.jpg', 'Landscape_3.jpg', '2569067123_aca715a2ee_o.jpg', 'blackbug.png', '4.webp'].map((n) => fixture(n))
  const sizes = [[320, 'jpeg'], [200, 'png'], [480, 'webp'], [720, 'jpeg'], [96, 'png']]

  // Saturation: several clients resize in a loop while a prober times /health.
  const DURATION_MS = 4000
  const MAX_REQUESTS = 3000
  const CLIENTS = 6
  const deadline = performance.now() + DURATION_MS
  const cpuBefore = cpuSeconds(ready.pid)
  const wallBefore = performance.now()
  let sent = 0
  const problems = []
  const formats = {}
  let ok = 0
  const client = async (c) => {
    for (let i = c; performance.now() < deadline && sent < MAX_REQUESTS; i += CLIENTS) {
      sent++
      const [width, format] = sizes[i % sizes.length]
      const res = await request(port, 'POST', `/resize?width=${width}&format=${format}`, inputs[i % inputs.length])
      if (res.status !== 200) { problems.push(`status ${res.status}: ${res.body}`); continue }
      const meta = await metadata(res.body)
      if (meta.width !== width || meta.format !== format) problems.push(`asked ${width} ${format}, got ${meta.width} ${meta.format}`)
      else { ok++; formats[format] = (formats[format] || 0) + 1 }
      if (res.headers['content-type'] !== `image/${format}`) problems.push(`content-type ${res.headers['content-type']} for ${format}`)
    }
  }
  const health = []
  const prober = async () => {
    while (performance.now() < deadline) {
      const res = await request(port, 'GET', '/health')
      assert.equal(res.status, 200)
      health.push(res.ms)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  await Promise.all([prober(), ...Array.from({ length: CLIENTS }, (_, c) => client(c))])
  const cores = (cpuSeconds(ready.pid) - cpuBefore) / ((performance.now() - wallBefore) / 1000)

  const p99 = percentile(health, 0.99)
  t.diagnostic(`resize: ${ok} ok of ${sent} in ${DURATION_MS} ms ${JSON.stringify(formats)}; server used ${cores.toFixed(2)} cores of ${os.availableParallelism()}`)
  t.diagnostic(`/health: ${health.length} probes, p50 ${percentile(health, 0.5).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...health).toFixed(2)} ms`)
  assert.deepEqual(problems, [])
  assert.ok(ok >= 20, `only ${ok} resizes in ${DURATION_MS} ms`)
  assert.equal(Object.keys(formats).length, 3, 'jpeg, png and webp all came back')
  assert.ok(health.length >= 20, `only ${health.length} health probes`)
  // The load was real: six clients against a two-thread pool keep jobs waiting,
  // and the server's threads used a good share of the machine (about 1.4 of 2
  // cores on an idle machine; less when other work shares it).
  assert.ok(cores > 0.5, `the server used ${cores.toFixed(2)} cores: the load did not reach the pool`)
  assert.ok(p99 < 50, `/health p99 ${p99.toFixed(1)} ms while resizing`)

  // Back-pressure: a burst against a JobQueue of concurrency 1, maxQueued 2.
  let accepted = []
  let refused = []
  for (let attempt = 0; attempt < 3 && refused.length === 0; attempt++) {
    const burst = await Promise.all(Array.from({ length: 40 }, () => request(port, 'POST', '/queued?width=720&format=jpeg', inputs[2])))
    accepted = burst.filter((r) => r.status === 200)
    refused = burst.filter((r) => r.status === 503)
    assert.equal(accepted.length + refused.length, 40, `statuses: ${burst.map((r) => r.status)}`)
  }
  t.diagnostic(`/queued burst of 40: ${accepted.length} served, ${refused.length} answered 503`)
  assert.ok(accepted.length >= 3, 'at least concurrency + maxQueued jobs were taken')
  assert.ok(refused.length >= 1, 'a full queue answered 503')
  for (const r of refused) {
    assert.equal(JSON.parse(r.body).code, 'ERR_QUEUE_FULL')
    assert.equal(r.headers['retry-after'], '1')
  }
  for (const r of accepted) {
    const meta = await metadata(r.body)
    assert.equal(meta.width, 720)
    assert.equal(meta.format, 'jpeg')
  }
  assert.equal((await request(port, 'GET', '/health')).status, 200)

  server.kill('SIGTERM')
  await new Promise((resolve) => server.once('exit', resolve))

  // 5. Without its platform package, loading says which platform and package it needs.
  fs.renameSync(path.join(app, 'node_modules', `rusque-${platform}`), path.join(work, 'moved-away'))
  const missing = spawnSync(process.execPath, ['-e', `
    try { require('./node_modules/rusque/lib/load.js').load(); console.log('loaded') }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`], { cwd: app, env, encoding: 'utf8' })
  const failure = JSON.parse(missing.stdout)
  assert.equal(failure.code, 'ERR_RUSQUE_NATIVE_LOAD')
  assert.match(failure.message, new RegExp(`for ${platform} \\(package rusque-${platform}\\)`))
})
