'use strict'

// `node benchmark/idle-rss.js [--quick]`
//
// How much memory rusque keeps after a burst: each configuration runs in its
// own child process, which warms up (a few resizes), records its RSS, runs a
// burst (16 threads, many large resizes at once, no memory budget), then sits
// idle 10 s and records RSS again. Configurations are allocator settings:
// glibc defaults (rusque's idle trim off), MALLOC_ARENA_MAX=2, a fixed mmap
// threshold, and rusque's default (malloc_trim(0) after 1 s idle, see
// crates/core/src/pool.rs went_idle). Printed as a table (MiB); the numbers
// decide the allocator settings rusque ships with.

const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { describeMachine, formatMachine } = require('./lib/machine')

const MiB = 1024 * 1024
const quick = process.argv.includes('--quick')
const IDLE_MS = quick ? 2000 : 10000

const CHILD = `
  const fs = require('node:fs')
  const path = require('node:path')
  const rusque = require(${JSON.stringify(path.resolve(__dirname, '..'))})
  const dir = ${JSON.stringify(path.resolve(__dirname, '..', 'fixtures', 'images'))}
  const inputs = ['2569067123_aca715a2ee_o.jpg', 'Landscape_1.jpg', 'swiss.png', 'blackbug.png'].map((f) => fs.readFileSync(path.join(dir, f)))
  const rss = () => process.memoryUsage.rss()
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  ;(async () => {
    rusque.configure({ threads: 16, memoryBudget: 0 })
    for (const input of inputs) await rusque.resize(input, { width: 720 })
    await sleep(200)
    const warm = rss()
    const burst = []
    for (let round = 0; round < ${quick ? 2 : 6}; round++) {
      burst.push(...inputs.flatMap((input) => Array.from({ length: 8 }, (_, i) => rusque.resize(input, { width: 400 + 100 * i }))))
    }
    await Promise.all(burst)
    const after = rss()
    await sleep(${IDLE_MS})
    const idle = rss()
    console.log(JSON.stringify({ warm, after, idle, peak: process.resourceUsage().maxRSS * 1024 }))
  })()
`

const NO_TRIM = { RUSQUE_MALLOC_TRIM: '0' }
const CONFIGS = [
  { name: 'glibc defaults, no idle trim', env: NO_TRIM },
  { name: 'MALLOC_ARENA_MAX=2, no idle trim', env: { ...NO_TRIM, MALLOC_ARENA_MAX: '2' } },
  { name: 'MALLOC_MMAP_THRESHOLD_=1 MiB, no idle trim', env: { ...NO_TRIM, MALLOC_MMAP_THRESHOLD_: String(MiB) } },
  { name: 'rusque default: malloc_trim(0) after 1 s idle', env: {} }
]

function main () {
  console.log(formatMachine(describeMachine()))
  const rows = []
  for (const c of CONFIGS) {
    const r = spawnSync(process.execPath, ['-e', CHILD], { env: { ...process.env, ...c.env }, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${c.name}: ${r.stderr}`)
    const m = JSON.parse(r.stdout)
    rows.push({ config: c.name, warm: m.warm, after: m.after, idle: m.idle, peak: m.peak })
  }
  const f = (b) => (b / MiB).toFixed(0)
  console.log(`\n| allocator | RSS after warm-up | after burst | after ${IDLE_MS / 1000} s idle | idle - warm-up | peak |`)
  console.log('|---|--:|--:|--:|--:|--:|')
  for (const r of rows) console.log(`| ${r.config} | ${f(r.warm)} | ${f(r.after)} | ${f(r.idle)} | ${f(r.idle - r.warm)} | ${f(r.peak)} |`)
  console.log('\nMiB. One child process per row; 16 threads; no memory budget.')
}

main()
