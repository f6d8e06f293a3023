'use strict'

// JobQueue against piscina (worker threads) on tiny tasks, plus the queue's
// own costs: JS-thread utilisation during resizes, memory after 1M jobs, and
// how long an urgent job waits behind a backlog.

const path = require('node:path')
const os = require('node:os')
const { spawnSync } = require('node:child_process')
const { performance } = require('node:perf_hooks')
const { Piscina } = require('piscina')

const { JobQueue, resize, poolInfo } = require('../..')
const { median } = require('../lib/stats')
const { readFixture: fixture } = require('../lib/fixtures')
const { mainThreadCpuMs } = require('../lib/thread-cpu')

const JOBS = 100000
const ROUNDS = 3

function rate (n, ms) {
  return n / (ms / 1000)
}

async function timed (fn) {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

async function rusqueAdd (input, concurrency) {
  const q = new JobQueue({ concurrency })
  const jobs = new Array(JOBS)
  for (let i = 0; i < JOBS; i++) jobs[i] = q.add('hash', input)
  await Promise.all(jobs)
}

async function rusqueBulk (input, concurrency) {
  const q = new JobQueue({ concurrency })
  const jobs = new Array(JOBS)
  for (let i = 0; i < JOBS; i++) jobs[i] = ['hash', input]
  await q.addBulk(jobs)
}

async function piscinaRun (pool, input) {
  const jobs = new Array(JOBS)
  for (let i = 0; i < JOBS; i++) jobs[i] = pool.run(input)
  await Promise.all(jobs)
}

module.exports = {
  description: `JobQueue vs piscina: ${JOBS.toLocaleString('en')} sha256 jobs of 64 bytes, then queue overheads`,
  async run ({ log }) {
    const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length
    const input = Buffer.alloc(64, 1)
    // All cores for both: piscina starts with minThreads = maxThreads = cores.
    const pool = new Piscina({ filename: path.join(__dirname, '..', 'workers', 'piscina-hash.js'), minThreads: cores, maxThreads: cores })
    // Warm both up: worker threads started, native runtime created.
    await Promise.all(Array.from({ length: 2000 }, () => pool.run(input)))
    await rusqueBulk(input, 256)

    const samples = { add: [], addCpuUs: [], addDefault: [], bulk: [], piscina: [] }
    for (let r = 0; r < ROUNDS; r++) {
      samples.piscina.push(rate(JOBS, await timed(() => piscinaRun(pool, input))))
      const cpu0 = mainThreadCpuMs()
      samples.add.push(rate(JOBS, await timed(() => rusqueAdd(input, 256))))
      samples.addCpuUs.push((mainThreadCpuMs() - cpu0) * 1000 / JOBS)
      samples.bulk.push(rate(JOBS, await timed(() => rusqueBulk(input, 256))))
      samples.addDefault.push(rate(JOBS, await timed(() => rusqueAdd(input, poolInfo().threads))))
      log(`round ${r + 1}: piscina ${samples.piscina[r].toFixed(0)}/s, add ${samples.add[r].toFixed(0)}/s (${samples.addCpuUs[r].toFixed(2)} µs JS-thread CPU per job), bulk ${samples.bulk[r].toFixed(0)}/s`)
    }
    const piscinaThreads = pool.threads.length
    await pool.destroy()
    const base = median(samples.piscina)
    const rows = [
      { metric: `piscina ${Piscina.version || ''} (${piscinaThreads} threads, node:crypto)`.replace('  ', ' '), value: `${base.toFixed(0)} jobs/s`, ratio: '1.00x', target: '' },
      { metric: 'JobQueue.add, concurrency 256', value: `${median(samples.add).toFixed(0)} jobs/s`, ratio: `${(median(samples.add) / base).toFixed(2)}x`, target: '>= 4x piscina' },
      { metric: 'JS-thread CPU per job, same JobQueue.add burst (µs, lower is better)', value: median(samples.addCpuUs).toFixed(2), ratio: '', target: '' },
      { metric: 'JobQueue.addBulk, concurrency 256', value: `${median(samples.bulk).toFixed(0)} jobs/s`, ratio: `${(median(samples.bulk) / base).toFixed(2)}x`, target: '' },
      { metric: `JobQueue.add, default concurrency (${poolInfo().threads})`, value: `${median(samples.addDefault).toFixed(0)} jobs/s`, ratio: `${(median(samples.addDefault) / base).toFixed(2)}x`, target: '' }
    ]

    // JS-thread cost of queue bookkeeping while 2,000 resizes run.
    const photo = fixture('Landscape_1.jpg')
    const q = new JobQueue()
    const elu0 = performance.eventLoopUtilization()
    const cpu0 = mainThreadCpuMs()
    const t0 = performance.now()
    await Promise.all(Array.from({ length: 2000 }, () => q.add('resize', photo, { width: 200 })))
    const wall = performance.now() - t0
    const elu = performance.eventLoopUtilization(elu0).utilization
    const cpuShare = (mainThreadCpuMs() - cpu0) / wall
    log(`2,000 resizes in ${(wall / 1000).toFixed(1)} s, ELU ${(elu * 100).toFixed(1)}%, JS-thread CPU ${(cpuShare * 100).toFixed(1)}%`)
    rows.push({ metric: 'event-loop utilisation, 2,000 resizes (600x450 → 200 wide)', value: `${(elu * 100).toFixed(1)}%`, ratio: '', target: '< 10%' })
    rows.push({ metric: 'JS-thread CPU time / wall time, same run', value: `${(cpuShare * 100).toFixed(1)}%`, ratio: '', target: '' })

    // Memory: a child process with --expose-gc runs 1,000,000 jobs.
    const child = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, '..', 'workers', 'memory-child.js'), '1000000'], { encoding: 'utf8' })
    if (child.status === 0) {
      const m = JSON.parse(child.stdout.trim().split('\n').pop())
      const growth = (m.after - m.before) / 1048576
      log(`1M jobs: RSS ${(m.before / 1048576).toFixed(0)} MB → ${(m.after / 1048576).toFixed(0)} MB`)
      rows.push({ metric: `RSS growth after ${m.completed.toLocaleString('en')} jobs, idle`, value: `${growth.toFixed(1)} MB`, ratio: '', target: '< 50 MB' })
    } else {
      rows.push({ metric: 'RSS growth after 1,000,000 jobs', value: `failed: ${child.stderr.slice(0, 200)}`, ratio: '', target: '< 50 MB' })
    }

    // Latency under load: an urgent metadata job behind 1,000 queued resizes.
    const big = fixture('2569067123_aca715a2ee_o.jpg')
    const single = []
    for (let i = 0; i < 5; i++) single.push(await timed(() => resize(big, { width: 720, height: 588 })))
    const oneResize = median(single)
    const backlog = new JobQueue()
    const pending = []
    for (let i = 0; i < 1000; i++) pending.push(backlog.add('resize', big, { width: 720, height: 588 }, { priority: 0 }).catch(() => {}))
    await new Promise((resolve) => setTimeout(resolve, 100)) // the backlog is running
    const urgent = []
    for (let i = 0; i < 5; i++) {
      urgent.push(await timed(() => backlog.add('metadata', big, undefined, { priority: 10 })))
    }
    await backlog.close({ drain: false })
    await Promise.all(pending)
    const urgentMs = median(urgent)
    rows.push({ metric: 'urgent metadata job behind 1,000 queued resizes', value: `${urgentMs.toFixed(1)} ms`, ratio: `${(urgentMs / oneResize).toFixed(2)}x one resize (${oneResize.toFixed(1)} ms)`, target: '< 1.5x one resize' })
    return {
      columns: [
        { key: 'metric', title: 'metric' },
        { key: 'value', title: 'rusque / peer', align: 'right' },
        { key: 'ratio', title: 'vs piscina', align: 'right' },
        { key: 'target', title: 'target' }
      ],
      rows,
      notes: [
        `${cores} cores; piscina runs sha256 with node:crypto in worker threads, rusque on its Rust pool; medians of ${ROUNDS} alternating rounds.`,
        'ELU counts time the JS thread was preempted while busy; on a loaded machine it overstates the queue\'s own cost. JS-thread CPU time (from /proc) does not.'
      ],
      details: { samples, urgent, single }
    }
  }
}
