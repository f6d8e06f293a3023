#!/usr/bin/env node
'use strict'

// Soak: runs N mixed jobs (resizes of every input format, hashes, metadata and
// a few inputs that must fail) through the direct functions and a JobQueue,
// and prints RSS every `--every` jobs as a table, then the growth after the
// warm-up (the first row). A leak of even a few hundred bytes per job shows
// as steady growth over 100,000 jobs.
//
//   node --expose-gc scripts/soak.js [N=100000] [--every=10000] [--inflight=32]
//        [--warmup=N/2]      jobs before the baseline row. RSS climbs for the
//                            first 40-50k mixed jobs while V8 grows its heap
//                            (the heap total column) and native memory grows
//                            with it, then stays flat; the growth from the
//                            first row is printed too. The anon and file
//                            columns split RSS (Linux): file-backed pages are
//                            code read in, not memory the jobs hold.
//        [--max-growth=10]   exit 1 if RSS grows more than this % after warm-up
//        [--only=<regex>]    run only the job kinds whose label matches
//
// Run it under valgrind with a small N:
//   valgrind --leak-check=full node scripts/soak.js 200

const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')

const rusque = require(path.join(__dirname, '..'))
const { resize, metadata, hash, JobQueue } = rusque

const args = process.argv.slice(2)
const flag = (name, dflt) => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? dflt : Number(a.slice(name.length + 3))
}
const N = Number(args.find((x) => !x.startsWith('--')) || 100000)
const EVERY = flag('every', Math.min(10000, Math.max(1, Math.ceil(N / 10))))
const INFLIGHT = flag('inflight', 32)
const MAX_GROWTH = flag('max-growth', 10)
const WARMUP = flag('warmup', Math.floor(N / 2))

const fixtures = process.env.RUSQUE_FIXTURES || path.resolve(__dirname, '..', 'fixtures', 'images')
const read = (name) => fs.readFileSync(path.join(fixtures, name))

// Small inputs so that 100,000 jobs take minutes, not hours: leaks are per
// job, not per pixel. Each format's decoder and each encoder is in the mix.
const inputs = {
  jpeg: read('320x240.jpg'),
  jpegExif: read('Landscape_6.jpg'),
  png: read('swiss.png'),
  pngAlpha: read('grey-8bit-alpha.png'),
  png16: read('16-bit-grey-alpha.png'),
  webp: read('5_webp_a.webp'),
  truncatedJpeg: read('truncated.jpg'),
  truncatedPng: read('truncated.png'),
  corruptJpeg: read('corrupt-header.jpg'),
  giant: read('giant-image.jpg')
}
const blob = Buffer.alloc(256 * 1024, 7)
// The only GIF fixture is 800x533, slower than the rest: it runs rarely.
const gif = read('Crash_test.gif')

// [weight, task, input, options, expected: 'ok' | error code]
const MIX = [
  [12, 'resize', inputs.jpeg, { width: 160 }, 'ok'],
  [6, 'resize', inputs.jpegExif, { width: 120, height: 120, fit: 'contain', background: 'transparent', format: 'png' }, 'ok'],
  [8, 'resize', inputs.png, { width: 32, format: 'webp' }, 'ok'],
  [6, 'resize', inputs.pngAlpha, { width: 100, format: 'jpeg' }, 'ok'],
  [4, 'resize', inputs.png16, { width: 50 }, 'ok'],
  [6, 'resize', inputs.webp, { width: 90 }, 'ok'],
  [1, 'resize', gif, { width: 64 }, 'ok'],
  [20, 'hash', blob, 'sha256', 'ok'],
  [6, 'hash', inputs.jpeg, 'blake3', 'ok'],
  [4, 'hash', inputs.png, 'md5', 'ok'],
  [4, 'hash', inputs.webp, 'sha512', 'ok'],
  [10, 'metadata', inputs.jpegExif, undefined, 'ok'],
  [3, 'resize', inputs.truncatedJpeg, { width: 100 }, 'ERR_CORRUPT_INPUT'],
  [3, 'resize', inputs.truncatedPng, { width: 100 }, 'ERR_CORRUPT_INPUT'],
  [3, 'metadata', inputs.corruptJpeg, undefined, 'ERR_CORRUPT_INPUT'],
  [2, 'resize', inputs.giant, { width: 100 }, 'ERR_LIMIT_EXCEEDED'],
  [2, 'resize', inputs.jpeg, { width: 0 }, 'ERR_INVALID_ARG']
]
// --only=<regex> keeps the jobs whose "task option-json" matches, to find
// which kind of job a growth comes from.
const onlyArg = args.find((x) => x.startsWith('--only='))
const only = onlyArg ? new RegExp(onlyArg.slice(7)) : null
const label = ([, task, input, options]) => `${task} ${Object.keys(inputs).find((k) => inputs[k] === input) || (input === gif ? 'gif' : 'blob')} ${JSON.stringify(options)}`
const table = []
for (const entry of MIX) {
  if (only && !only.test(label(entry))) continue
  for (let i = 0; i < entry[0]; i++) table.push(entry)
}
if (table.length === 0) throw new Error(`--only matches none of: ${MIX.map(label).join('; ')}`)

const direct = { resize, metadata, hash }
let queue = null
if (typeof JobQueue === 'function') queue = new JobQueue({ concurrency: Math.max(2, Math.floor(INFLIGHT / 2)) })

// A fixed LCG picks jobs, so two runs do the same work in the same order.
let seed = 12345
function pick () {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return table[seed % table.length]
}

const counts = { ok: 0, expectedErrors: 0, unexpected: 0, viaQueue: 0, viaFunctions: 0 }
const unexpected = []

function runOne (i) {
  const [, task, input, options, expected] = pick()
  const useQueue = queue !== null && i % 2 === 1
  if (useQueue) counts.viaQueue++
  else counts.viaFunctions++
  const p = useQueue ? queue.add(task, input, options) : direct[task](input, options)
  return p.then((value) => {
    if (expected !== 'ok') return miss(task, `resolved, expected ${expected}`)
    if (task === 'resize' && !(value instanceof Uint8Array && value.length > 0)) return miss(task, 'empty output')
    if (task === 'metadata' && !(value.width > 0 && value.height > 0)) return miss(task, `bad metadata ${JSON.stringify(value)}`)
    if (task === 'hash' && !/^[0-9a-f]+$/.test(value)) return miss(task, `bad digest ${value}`)
    counts.ok++
  }, (err) => {
    if (err && err.code === expected) counts.expectedErrors++
    else miss(task, `${err && err.code}: ${err && err.message}`)
  })
}

function miss (task, why) {
  counts.unexpected++
  if (unexpected.length < 10) unexpected.push(`${task}: ${why}`)
}

const MiB = 1024 * 1024
const rows = []
/** Linux splits RSS into anonymous memory (heaps) and file-backed pages (code of node, the addon and libc, read in as new paths run). */
function rssParts () {
  try {
    const status = fs.readFileSync('/proc/self/status', 'latin1')
    const kb = (key) => Number((status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm')) || [])[1]) * 1024
    return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') }
  } catch {
    return { anon: NaN, file: NaN }
  }
}
function sample (done, started) {
  if (global.gc) global.gc()
  const m = process.memoryUsage()
  const parts = rssParts()
  const elapsed = (performance.now() - started) / 1000
  rows.push({ done, elapsed, rss: m.rss, anon: parts.anon, file: parts.file, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers })
  const prev = rows.length > 1 ? rows[rows.length - 2] : { done: 0, elapsed: 0 }
  const rate = (done - prev.done) / Math.max(1e-9, elapsed - prev.elapsed)
  console.log([
    String(done).padStart(8), elapsed.toFixed(1).padStart(8), (m.rss / MiB).toFixed(1).padStart(9),
    (parts.anon / MiB).toFixed(1).padStart(9), (parts.file / MiB).toFixed(1).padStart(9),
    (m.heapUsed / MiB).toFixed(1).padStart(9), (m.heapTotal / MiB).toFixed(1).padStart(9), (m.external / MiB).toFixed(1).padStart(9),
    rate.toFixed(0).padStart(8)
  ].join(' |'))
}

async function main () {
  if (only) console.log(`only: ${[...new Set(table.map(label))].join('; ')}`)
  console.log(`rusque soak: ${N} jobs, ${INFLIGHT} in flight, ${queue ? 'half through JobQueue, half through the functions' : 'functions only (no JobQueue)'}`)
  console.log(`node ${process.version}, ${os.cpus()[0].model} x ${os.cpus().length}, pool ${JSON.stringify(rusque.poolInfo ? rusque.poolInfo() : {})}${global.gc ? '' : ' (no --expose-gc: RSS is noisier)'}`)
  console.log(['    jobs', ' elapsed s', '   RSS MB', '  anon MB', '  file MB', '  heap MB', ' heap total', '   ext MB', '  jobs/s'].join(' |'))
  const started = performance.now()
  let next = 0
  let done = 0
  let nextSample = EVERY
  await new Promise((resolve) => {
    const launch = () => {
      while (next < N && next - done < INFLIGHT) {
        runOne(next++).then(() => {
          done++
          if (done >= nextSample) {
            sample(done, started)
            nextSample += EVERY
          }
          if (done === N) resolve()
          else launch()
        })
      }
    }
    launch()
  })
  if (rows.length === 0 || rows[rows.length - 1].done !== N) sample(N, started)
  if (queue && typeof queue.close === 'function') await queue.close()

  const warmIndex = Math.max(0, rows.findIndex((r) => r.done >= WARMUP))
  const warm = rows[warmIndex]
  const after = rows.slice(warmIndex + 1)
  const last = rows[rows.length - 1]
  const peak = Math.max(...after.map((r) => r.rss), warm.rss)
  const growth = (last.rss - warm.rss) / warm.rss * 100
  // Least-squares slope of RSS over jobs after warm-up: a leak is a steady
  // slope, allocator noise is not.
  const pts = rows.slice(warmIndex)
  let slope = 0
  if (pts.length >= 2) {
    const mx = pts.reduce((a, r) => a + r.done, 0) / pts.length
    const my = pts.reduce((a, r) => a + r.rss, 0) / pts.length
    const sxy = pts.reduce((a, r) => a + (r.done - mx) * (r.rss - my), 0)
    const sxx = pts.reduce((a, r) => a + (r.done - mx) ** 2, 0)
    slope = sxx > 0 ? sxy / sxx : 0
  }
  console.log('')
  console.log(`outcomes: ${JSON.stringify(counts)}`)
  if (unexpected.length) console.log(`unexpected outcomes (first ${unexpected.length}):\n  ${unexpected.join('\n  ')}`)
  const pct = (v) => `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`
  const first = rows[0]
  console.log(`RSS at the first row (${first.done} jobs): ${(first.rss / MiB).toFixed(1)} MB; growth from there to the end: ${pct((last.rss - first.rss) / first.rss * 100)}`)
  console.log(`RSS after warm-up (${warm.done} jobs): ${(warm.rss / MiB).toFixed(1)} MB; at the end: ${(last.rss / MiB).toFixed(1)} MB; ` +
    `peak after warm-up: ${(peak / MiB).toFixed(1)} MB; growth after warm-up: ${pct(growth)}; ` +
    `trend after warm-up: ${slope >= 0 ? '+' : ''}${slope.toFixed(1)} bytes/job`)
  let failed = counts.unexpected > 0
  if (after.length >= 3 && growth > MAX_GROWTH) {
    console.log(`FAIL: RSS grew more than ${MAX_GROWTH}% after warm-up`)
    failed = true
  }
  process.exitCode = failed ? 1 : 0
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
