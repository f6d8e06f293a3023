#!/usr/bin/env node
'use strict'

// Load on the Express example (`npm start`): many concurrent clients post
// valid images, broken bytes, oversized uploads, and uploads they abandon
// half-way, against the example server in a child process. Every answer is
// checked (a valid upload must come back as a decodable image of the
// requested size, a broken one as a 4xx carrying rusque's error code), and
// the server's RSS must come back near its post-warm-up baseline once the
// load stops.
//
//   node --expose-gc scripts/load-express.js [--duration=60] [--clients=48]
//        [--warmup=10]        seconds of the same mix before the baseline
//        [--settle=5]         idle seconds before sampling the baseline
//        [--idle=60]          longest wait, after the load, for RSS to return
//        [--tolerance-mb=20]  RSS may end this much above baseline ...
//        [--tolerance-pct=10] ... or this % of it, whichever is larger
//        [--timeout=30]       seconds of silence before a request counts as unanswered
//        [--fixed-thresholds] run the server with glibc malloc's thresholds fixed
//
// The server runs with the allocator settings users get (glibc's defaults,
// or whatever GLIBC_TUNABLES says). With --fixed-thresholds it runs with
// malloc's mmap and trim thresholds fixed at 128 KB: with glibc's dynamic
// thresholds, freeing one large buffer (a decoded photo, an upload) raises
// both to twice its size, after which the heap may keep that much freed
// memory mapped; the JS-held line of the report tells such caching from a
// leak.
//
// Exits 1 on any wrong answer, a server crash, anything the server writes to
// stderr, or RSS not returning within tolerance.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')

const { metadata, resize } = require(path.join(__dirname, '..'))

const args = process.argv.slice(2)
const flag = (name, dflt) => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? dflt : Number(a.slice(name.length + 3))
}
const DURATION = flag('duration', 60)
const CLIENTS = flag('clients', 48)
const WARMUP = flag('warmup', 10)
const SETTLE = flag('settle', 5)
const IDLE = flag('idle', 60)
const TOL_MB = flag('tolerance-mb', 20)
const TOL_PCT = flag('tolerance-pct', 10)
const TIMEOUT = flag('timeout', 30) * 1000
const FIXED_THRESHOLDS = args.includes('--fixed-thresholds')
const TUNABLES = 'glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072'

const fixtures = process.env.RUSQUE_FIXTURES || path.resolve(__dirname, '..', 'fixtures', 'images')
const read = (name) => fs.readFileSync(path.join(fixtures, name))
const SERVER = path.join(__dirname, '..', 'examples', 'server', 'server.js')
const MB = 1024 * 1024

// ---------------------------------------------------------------------------
// The mix. Valid uploads: [weight, file, widths]. The 2725x2225 JPEG carries
// most of the CPU; the rest cover PNG (palette, alpha), WebP, EXIF rotation.
const VALID = [
  [6, '2569067123_aca715a2ee_o.jpg', [160, 320, 720, 1200]],
  [3, 'Landscape_1.jpg', [100, 300, 600]],
  [2, 'Landscape_6.jpg', [120, 225]],
  [3, '320x240.jpg', [64, 160, 320]],
  [2, 'swiss.png', [32, 100]],
  [2, 'grey-8bit-alpha.png', [50, 200]],
  [2, '50020484-00001.png', [80, 240]],
  [2, '5_webp_a.webp', [90, 200]]
]
const FORMATS = ['jpeg', 'png', 'webp']
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const MAGIC = {
  jpeg: (b) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  png: (b) => b.subarray(0, 8).equals(PNG_SIGNATURE),
  webp: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP'
}

const fileBody = (name) => { const buf = read(name); return () => buf }

// Broken uploads: [name, () => body, query]. Each must get a 4xx whose JSON
// carries a code and a message.
const BROKEN = [
  ['corrupt-header.jpg', fileBody('corrupt-header.jpg')],
  ['truncated.jpg', fileBody('truncated.jpg')],
  ['truncated.png', fileBody('truncated.png')],
  ['giant-image.jpg', fileBody('giant-image.jpg')],
  ['random bytes', () => crypto.randomBytes(1 + crypto.randomInt(64 * 1024))],
  ['jpeg magic + random', () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), crypto.randomBytes(crypto.randomInt(32 * 1024))])],
  ['png magic + random', () => Buffer.concat([PNG_SIGNATURE, crypto.randomBytes(crypto.randomInt(32 * 1024))])],
  ['zero bytes', () => Buffer.alloc(0)],
  ['width=abc', fileBody('320x240.jpg'), 'width=abc']
]

// [weight, kind]
const KINDS = [
  [60, 'valid'],
  [22, 'broken'],
  [10, 'abort-upload'], // Content-Length sent, part of the body, then the socket destroyed
  [6, 'abort-waiting'], // whole body sent, socket destroyed before the answer
  [2, 'oversized'] // Content-Length over the 25 MB limit: 413 before the body is read
]

function pickWeighted (list) {
  const total = list.reduce((a, x) => a + x[0], 0)
  let r = Math.random() * total
  for (const x of list) if ((r -= x[0]) < 0) return x
  return list[list.length - 1]
}
const pick = (list) => list[Math.floor(Math.random() * list.length)]

// ---------------------------------------------------------------------------
// The server, its RSS

function startServer () {
  const state = { stderr: '', exited: null }
  const env = { ...process.env, PORT: '0', HOST: '127.0.0.1' }
  if (FIXED_THRESHOLDS && !env.GLIBC_TUNABLES) env.GLIBC_TUNABLES = TUNABLES
  const child = spawn(process.execPath, [SERVER], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  state.tunables = env.GLIBC_TUNABLES || 'glibc defaults'
  state.child = child
  child.stderr.on('data', (d) => { state.stderr += d })
  child.on('exit', (code, signal) => { state.exited = { code, signal } })
  process.on('exit', () => { if (state.exited === null) child.kill('SIGKILL') })
  state.ready = new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)
      if (m) resolve(Number(m[1]))
    })
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${state.stderr}`)))
  })
  return state
}

function rssMB (pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m[1]) / 1024
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// The server's /health: { ok, memory: process.memoryUsage() }, or null.
function health () {
  return new Promise((resolve) => {
    http.get({ port, host: '127.0.0.1', path: '/health', agent: false, timeout: TIMEOUT }, (res) => {
      let s = ''
      res.on('data', (d) => { s += d })
      res.on('end', () => resolve(res.statusCode === 200 ? parseJson(Buffer.from(s)) : null))
    }).on('error', () => resolve(null)).on('timeout', function () { this.destroy() })
  })
}
// What JS holds: the V8 heap in use plus Buffers and other external memory.
const jsHeldMB = (h) => h && h.memory ? (h.memory.heapUsed + h.memory.external) / MB : NaN

// ---------------------------------------------------------------------------
// One request of each kind. Each resolves to { ok, ms, note } (note names
// what was wrong, or the error code seen).

let port
let agent

function post (query, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: `/api/resize?${query}`, agent, timeout: TIMEOUT, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT / 1000} s`)))
    req.on('error', reject)
    req.end(body)
  })
}

function parseJson (buf) {
  try { return JSON.parse(buf.toString('utf8')) } catch { return null }
}

const sources = new Map() // file → { buf, width, height } (upright)

async function runValid () {
  const [, file, widths] = pickWeighted(VALID)
  const src = sources.get(file)
  const width = pick(widths)
  const format = pick(FORMATS)
  const res = await post(`width=${width}&format=${format}`, src.buf)
  if (res.status !== 200) return { ok: false, note: `${file} → ${res.status} ${res.body.toString().slice(0, 120)}` }
  if (!MAGIC[format](res.body)) return { ok: false, note: `${file} → not a ${format}` }
  const meta = await metadata(res.body)
  const height = Math.round(src.height * width / src.width)
  if (meta.format !== format || meta.width !== width || Math.abs(meta.height - height) > 1) {
    return { ok: false, note: `${file} → ${meta.format} ${meta.width}x${meta.height}, asked ${format} ${width}x${height}` }
  }
  if (Number(res.headers['x-width']) !== meta.width || Number(res.headers['x-height']) !== meta.height) {
    return { ok: false, note: `${file} → headers say ${res.headers['x-width']}x${res.headers['x-height']}` }
  }
  // A full decode: the header alone could sit on a truncated body.
  await resize(res.body, { width: 8, format: 'png' })
  return { ok: true }
}

async function runBroken () {
  const [name, body, query] = pick(BROKEN)
  const res = await post(query || 'width=200', body())
  const json = parseJson(res.body)
  if (res.status < 400 || res.status > 499) return { ok: false, note: `${name} → ${res.status}` }
  if (!json || !/^ERR_[A-Z_]+$/.test(json.code) || typeof json.message !== 'string' || json.message.length < 10) {
    return { ok: false, note: `${name} → ${res.status} without a code and message: ${res.body.toString().slice(0, 120)}` }
  }
  return { ok: true, note: `${res.status} ${json.code}` }
}

// Sends the headers and part of the body, then destroys the socket. The
// server must not answer (it never had the whole upload).
function runAbortUpload () {
  const src = sources.get(pickWeighted(VALID)[1]).buf
  const cut = 1 + crypto.randomInt(src.length - 1)
  return new Promise((resolve) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/resize?width=200', agent: false, headers: { 'content-type': 'image/jpeg', 'content-length': src.length } })
    let answered = null
    req.on('response', (res) => { answered = res.statusCode; res.resume() })
    req.on('error', () => {})
    req.write(src.subarray(0, cut))
    setTimeout(() => {
      req.destroy()
      resolve(answered === null ? { ok: true } : { ok: false, note: `partial upload answered ${answered}` })
    }, 2 + crypto.randomInt(30))
  })
}

// Sends a whole large upload and leaves before the answer: the server drops
// the job (or finds the socket gone when it answers).
function runAbortWaiting () {
  const src = sources.get('2569067123_aca715a2ee_o.jpg').buf
  return new Promise((resolve) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/resize?width=720&format=png', agent: false, headers: { 'content-type': 'image/jpeg', 'content-length': src.length } })
    req.on('response', (res) => res.resume())
    req.on('error', () => {})
    req.end(src, () => setTimeout(() => { req.destroy(); resolve({ ok: true }) }, crypto.randomInt(20)))
  })
}

function runOversized () {
  return new Promise((resolve) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/resize?width=200', agent: false, timeout: TIMEOUT, headers: { 'content-type': 'image/jpeg', 'content-length': 30 * MB } })
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT / 1000} s`)))
    req.on('response', (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        req.destroy()
        const json = parseJson(Buffer.concat(chunks))
        if (res.statusCode === 413 && json && json.code && json.message) resolve({ ok: true, note: `413 ${json.code}` })
        else resolve({ ok: false, note: `oversized → ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 120)}` })
      })
    })
    req.on('error', (err) => resolve({ ok: false, note: `oversized → ${err.code || err.message}` }))
    req.write(Buffer.alloc(64 * 1024))
  })
}

const RUN = { valid: runValid, broken: runBroken, 'abort-upload': runAbortUpload, 'abort-waiting': runAbortWaiting, oversized: runOversized }

// ---------------------------------------------------------------------------
// Phases

function newStats () {
  const s = {}
  for (const [, kind] of KINDS) s[kind] = { count: 0, ok: 0, wrong: 0, ms: [], notes: new Map() }
  return s
}

const wrongs = [] // every wrong answer, across phases

async function load (seconds, stats) {
  agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
  const end = Date.now() + seconds * 1000
  const client = async () => {
    while (Date.now() < end) {
      const [, kind] = pickWeighted(KINDS)
      const st = stats[kind]
      const t0 = performance.now()
      let r
      try {
        r = await RUN[kind]()
      } catch (err) {
        r = { ok: false, note: `${kind}: ${err.code || err.message}` }
      }
      st.count++
      st.ms.push(performance.now() - t0)
      if (r.ok) st.ok++
      else {
        st.wrong++
        if (wrongs.length < 50) wrongs.push(`${kind}: ${r.note}`)
      }
      if (r.note) {
        const key = r.ok ? r.note : 'wrong'
        st.notes.set(key, (st.notes.get(key) || 0) + 1)
      }
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, client))
  agent.destroy()
}

const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN

async function main () {
  for (const [, file] of VALID) {
    const buf = read(file)
    const m = await metadata(buf)
    const swap = m.orientation >= 5
    sources.set(file, { buf, width: swap ? m.height : m.width, height: swap ? m.width : m.height })
  }

  const server = startServer()
  port = await server.ready
  const pid = server.child.pid
  console.log(`server pid ${pid} on port ${port}; ${CLIENTS} clients, warm-up ${WARMUP} s, load ${DURATION} s`)
  console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}; server malloc: ${server.tunables}`)

  const warm = newStats()
  await load(WARMUP, warm)
  if (global.gc) global.gc()
  await sleep(SETTLE * 1000)
  const base = []
  for (let i = 0; i < 5; i++) { base.push(rssMB(pid)); await sleep(200) }
  const baseline = base.sort((a, b) => a - b)[2]
  const jsBaseline = jsHeldMB(await health())
  console.log(`warm-up: ${Object.values(warm).reduce((a, s) => a + s.count, 0)} requests; RSS baseline ${baseline.toFixed(1)} MB`)

  const stats = newStats()
  let peak = baseline
  const sampler = setInterval(() => { if (server.exited === null) peak = Math.max(peak, rssMB(pid)) }, 250)
  const t0 = performance.now()
  await load(DURATION, stats)
  const elapsed = (performance.now() - t0) / 1000
  clearInterval(sampler)
  if (global.gc) global.gc()

  // Idle: the same settling time as before the baseline, then one sample a
  // second until RSS is back within tolerance.
  const limit = baseline + Math.max(TOL_MB, baseline * TOL_PCT / 100)
  let after = NaN
  let waited = 0
  const idleStart = performance.now()
  const trail = []
  await sleep(SETTLE * 1000)
  while (server.exited === null) {
    after = rssMB(pid)
    waited = (performance.now() - idleStart) / 1000
    trail.push(`${waited.toFixed(0)} s ${after.toFixed(0)}`)
    if (after <= limit || waited >= IDLE) break
    await sleep(1000)
  }

  // Still serving?
  const last = server.exited === null ? await health() : null
  const healthy = Boolean(last && last.ok)

  // ---- report
  const rows = [['kind', 'requests', 'ok', 'wrong', 'p50 ms', 'p99 ms', 'answers']]
  let total = 0
  let wrong = 0
  for (const [, kind] of KINDS) {
    const s = stats[kind]
    const sorted = s.ms.sort((a, b) => a - b)
    total += s.count
    wrong += s.wrong
    const answers = [...s.notes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(', ')
    rows.push([kind, s.count, s.ok, s.wrong, pct(sorted, 0.5).toFixed(1), pct(sorted, 0.99).toFixed(1), answers])
  }
  const warmWrong = Object.values(warm).reduce((a, s) => a + s.wrong, 0)
  rows.push(['total', total, total - wrong, wrong, '', '', `${(total / elapsed).toFixed(1)} req/s over ${elapsed.toFixed(1)} s`])
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  console.log()
  for (const r of rows) {
    console.log(r.map((c, i) => i === 0 ? String(c).padEnd(widths[i]) : i === r.length - 1 ? c : String(c).padStart(widths[i])).join('  '))
  }

  const memOk = after <= limit
  console.log()
  console.log(`server RSS: baseline ${baseline.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, after ${waited.toFixed(0)} s idle ${after.toFixed(1)} MB` +
    ` (limit ${limit.toFixed(1)} MB: baseline + max(${TOL_MB} MB, ${TOL_PCT}%)) ${memOk ? 'PASS' : 'FAIL'}`)
  console.log(`idle samples (MB): ${trail.join(', ')}`)
  console.log(`held by JS (V8 heap used + external): baseline ${jsBaseline.toFixed(1)} MB, after idle ${jsHeldMB(last).toFixed(1)} MB`)

  const failures = []
  if (wrong || warmWrong) failures.push(`${wrong + warmWrong} wrong answers (${warmWrong} in warm-up)`)
  if (server.exited !== null) failures.push(`server exited: ${JSON.stringify(server.exited)}`)
  else if (!healthy) failures.push('server did not answer /health after the load')
  if (server.stderr) failures.push(`server wrote to stderr:\n${server.stderr.slice(0, 2000)}`)
  if (!memOk) failures.push('RSS did not return near baseline')
  for (const w of wrongs) console.log(`  wrong: ${w}`)
  server.child.kill('SIGTERM')
  if (failures.length) {
    console.log(`\nFAIL: ${failures.join('; ')}`)
    process.exitCode = 1
  } else {
    console.log('\nPASS: every answer correct, no crash, nothing on stderr, RSS back near baseline')
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
