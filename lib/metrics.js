'use strict'

// What the pool, the queues and the workers report: poolInfo() and
// prometheus() built from one native snapshot (crates/core/src/metrics.rs
// counts, with atomics, on the pool threads), and the same log-bucket
// histogram in JS for JobQueue and Worker, so every `runTime`/`waitTime`
// has one shape and one resolution: { p50, p99, max } in ms, p50/p99 being
// the upper bound of their bucket (8 buckets a decade, so at most about a
// third above the true value), max exact.

const binding = require('./load').load()

let bounds = null // bucket upper bounds in ms, shared with the native side

function getBounds () {
  if (bounds === null) bounds = Float64Array.from(binding.poolStats().bounds)
  return bounds
}

/** A fixed-bucket histogram of durations in ms (no allocation per sample). */
class Histogram {
  constructor () {
    this.counts = new Float64Array(getBounds().length + 1)
    this.sum = 0
    this.max = 0
  }

  record (ms) {
    const b = getBounds()
    // Binary search for the first bound >= ms.
    let lo = 0
    let hi = b.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (b[mid] < ms) lo = mid + 1
      else hi = mid
    }
    this.counts[lo]++
    this.sum += ms
    if (ms > this.max) this.max = ms
  }
}

/** { p50, p99, max } in ms from bucket counts and the exact maximum. */
function summary (counts, max) {
  const b = getBounds()
  let total = 0
  for (let i = 0; i < counts.length; i++) total += counts[i]
  if (total === 0) return { p50: 0, p99: 0, max: 0 }
  const at = (q) => {
    const rank = Math.ceil(q * total)
    let seen = 0
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]
      if (seen >= rank) return i < b.length ? Math.min(b[i], max) : max
    }
    return max
  }
  return { p50: at(0.5), p99: at(0.99), max }
}

function merge (hists) {
  const counts = new Array(getBounds().length + 1).fill(0)
  let sumMs = 0
  let maxMs = 0
  for (const h of hists) {
    for (let i = 0; i < counts.length; i++) counts[i] += h.counts[i]
    sumMs += h.sumMs
    if (h.maxMs > maxMs) maxMs = h.maxMs
  }
  return { counts, sumMs, maxMs }
}

// ---------------------------------------------------------------------------
// Worker and MultiWorker stats: per slot, jobs acked as completed or failed
// and their run times; the Rust loop's slots count in Rust (NativeWorker).

class SlotStats {
  constructor () {
    this.completed = 0
    this.failed = 0
    this.run = new Histogram()
  }

  /** A job of the JS loop acked: outcome 's' or 'f', duration in ms. */
  count (outcome, ms) {
    if (outcome === 's') this.completed++
    else if (outcome === 'f') this.failed++
    else return
    this.run.record(ms)
  }

  /** Adds a native slot's counts ({ completed, failed, run }). */
  add (n) {
    this.completed += n.completed
    this.failed += n.failed
    for (let i = 0; i < this.run.counts.length; i++) this.run.counts[i] += n.run.counts[i]
    this.run.sum += n.run.sumMs
    if (n.run.maxMs > this.run.max) this.run.max = n.run.maxMs
  }
}

const RAW = Symbol('rusque.rawRunTime')

function toRaw (h) { return { counts: Array.from(h.counts), sumMs: h.sum, maxMs: h.max } }

function totals (parts) {
  const run = merge(parts.map((p) => p[RAW]))
  const out = {
    completed: parts.reduce((n, p) => n + p.completed, 0),
    failed: parts.reduce((n, p) => n + p.failed, 0),
    runTime: summary(run.counts, run.maxMs)
  }
  Object.defineProperty(out, RAW, { value: run })
  return out
}

/** Worker#stats() from [{ name, stats: SlotStats, live: native slot stats | null }]. */
function workerStats (slots) {
  const parts = slots.map(({ name, stats, live }) => {
    const raw = live ? merge([toRaw(stats.run), live.run]) : toRaw(stats.run)
    const part = {
      name,
      completed: stats.completed + (live ? live.completed : 0),
      failed: stats.failed + (live ? live.failed : 0),
      runTime: summary(raw.counts, raw.maxMs)
    }
    Object.defineProperty(part, RAW, { value: raw })
    return part
  })
  return { ...totals(parts), slots: parts }
}

/** MultiWorker#stats() from its workers' stats(). */
function multiWorkerStats (workers) {
  const parts = workers.map((w) => {
    const t = totals(w.slots)
    return { ...w, [RAW]: t[RAW] }
  })
  return { ...totals(parts), workers }
}

// The reading poolInfo() last returned: its utilization covers the time since.
let lastReading = null

/**
 * The pool's configuration and counters. `utilization` is the busy share of
 * the pool's threads (0 to 1) since the previous poolInfo() call (the first
 * call: since the pool's first task). Counts are since the process started.
 */
function poolInfo () {
  const s = binding.poolStats()
  const reading = { atMs: s.atMs, busyMs: s.busyMs }
  const since = lastReading || { atMs: 0, busyMs: 0 }
  lastReading = reading
  const span = (s.atMs - since.atMs) * s.threads
  const utilization = span > 0 ? Math.min(1, Math.max(0, (s.busyMs - since.busyMs) / span)) : 0
  const tasks = {}
  const totals = { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }
  for (const t of s.tasks) {
    tasks[t.task] = {
      queued: t.queued,
      running: t.running,
      completed: t.completed,
      failed: t.failed,
      cancelled: t.cancelled,
      runTime: summary(t.run.counts, t.run.maxMs),
      waitTime: summary(t.wait.counts, t.wait.maxMs)
    }
    for (const k of Object.keys(totals)) totals[k] += t[k]
  }
  const run = merge(s.tasks.map((t) => t.run))
  const wait = merge(s.tasks.map((t) => t.wait))
  return {
    threads: s.threads,
    nice: s.nice,
    ...totals,
    utilization,
    runTime: summary(run.counts, run.maxMs),
    waitTime: summary(wait.counts, wait.maxMs),
    tasks,
    memory: { ...s.memory }
  }
}

// ---------------------------------------------------------------------------
// Prometheus text exposition (format 0.0.4), with no dependency.

// Exported histogram bounds: every other native bound (4 a decade), which
// are exact bucket edges, so the cumulative counts are exact too.
const EXPORT_STEP = 2

function labels (obj) {
  const parts = []
  for (const [k, v] of Object.entries(obj)) {
    parts.push(`${k}="${String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
  }
  return parts.length ? `{${parts.join(',')}}` : ''
}

function num (x) {
  if (x === Infinity) return '+Inf'
  return Number.isFinite(x) ? String(x) : 'NaN'
}

class Exposition {
  constructor () { this.lines = [] }
  family (name, type, help) {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
  }

  sample (name, lbls, value) { this.lines.push(`${name}${labels(lbls)} ${num(value)}`) }
  /** A histogram from bucket counts (native order) and its sum in ms. */
  histogram (name, lbls, counts, sumMs) {
    const b = getBounds()
    let cum = 0
    let total = 0
    for (const c of counts) total += c
    for (let i = 0; i < b.length; i++) {
      cum += counts[i]
      if (i % EXPORT_STEP === 0) this.sample(`${name}_bucket`, { ...lbls, le: Number((b[i] / 1000).toPrecision(4)) }, cum)
    }
    this.sample(`${name}_bucket`, { ...lbls, le: '+Inf' }, total)
    this.sample(`${name}_sum`, lbls, sumMs / 1000)
    this.sample(`${name}_count`, lbls, total)
  }

  text () { return this.lines.join('\n') + '\n' }
}

function statsOf (thing, kind) {
  if (thing === null || typeof thing !== 'object' || typeof thing.stats !== 'function') {
    throw new TypeError(`prometheus(): every entry of ${kind} must have a stats() method (a ${kind === 'queues' ? 'JobQueue' : 'Worker or MultiWorker'})`)
  }
  return thing.stats()
}

/**
 * The pool's counters (and those of the queues and workers passed, keyed by
 * the label to give them) in the Prometheus text format.
 * @param {{ queues?: Record<string, JobQueue>, workers?: Record<string, Worker|MultiWorker> }} [options]
 */
function prometheus (options = {}) {
  const s = binding.poolStats()
  const out = new Exposition()
  out.family('rusque_tasks_total', 'counter', 'Tasks the pool finished, by task and outcome (completed, failed, cancelled).')
  for (const t of s.tasks) {
    for (const outcome of ['completed', 'failed', 'cancelled']) out.sample('rusque_tasks_total', { task: t.task, outcome }, t[outcome])
  }
  out.family('rusque_task_duration_seconds', 'histogram', 'Time tasks ran on a pool thread.')
  for (const t of s.tasks) out.histogram('rusque_task_duration_seconds', { task: t.task }, t.run.counts, t.run.sumMs)
  out.family('rusque_task_wait_seconds', 'histogram', 'Time tasks waited for a pool thread (and for memory budget).')
  for (const t of s.tasks) out.histogram('rusque_task_wait_seconds', { task: t.task }, t.wait.counts, t.wait.sumMs)
  out.family('rusque_pool_queued', 'gauge', 'Tasks submitted to the pool and not started yet.')
  for (const t of s.tasks) out.sample('rusque_pool_queued', { task: t.task }, t.queued)
  out.family('rusque_pool_running', 'gauge', 'Tasks running on the pool now.')
  for (const t of s.tasks) out.sample('rusque_pool_running', { task: t.task }, t.running)
  out.family('rusque_pool_threads', 'gauge', 'Threads in the pool.')
  out.sample('rusque_pool_threads', {}, s.threads)
  out.family('rusque_pool_busy_seconds_total', 'counter', 'Thread time spent running tasks; rate() divided by threads is utilization.')
  out.sample('rusque_pool_busy_seconds_total', {}, s.busyMs / 1000)
  out.family('rusque_memory_budget_bytes', 'gauge', 'The memory budget (0: none).')
  out.sample('rusque_memory_budget_bytes', {}, s.memory.budget)
  out.family('rusque_memory_reserved_bytes', 'gauge', 'Estimated working memory of the tasks running now.')
  out.sample('rusque_memory_reserved_bytes', {}, s.memory.reserved)
  out.family('rusque_memory_waiting', 'gauge', 'Tasks waiting for room in the memory budget.')
  out.sample('rusque_memory_waiting', {}, s.memory.waiting)

  const queues = Object.entries(options.queues || {}).map(([name, q]) => [name, statsOf(q, 'queues'), q])
  if (queues.length > 0) {
    out.family('rusque_queue_jobs_total', 'counter', 'JobQueue jobs by outcome.')
    for (const [queue, st] of queues) {
      for (const outcome of ['completed', 'failed', 'cancelled', 'timedOut', 'rejected']) out.sample('rusque_queue_jobs_total', { queue, outcome }, st[outcome])
    }
    out.family('rusque_queue_waiting', 'gauge', 'JobQueue jobs waiting to start.')
    for (const [queue, st] of queues) out.sample('rusque_queue_waiting', { queue }, st.waiting)
    out.family('rusque_queue_running', 'gauge', 'JobQueue jobs running.')
    for (const [queue, st] of queues) out.sample('rusque_queue_running', { queue }, st.running)
    out.family('rusque_queue_job_duration_seconds', 'histogram', 'JobQueue job run time, from start to settlement.')
    for (const [queue, , q] of queues) {
      if (q._run instanceof Histogram) out.histogram('rusque_queue_job_duration_seconds', { queue }, q._run.counts, q._run.sum)
    }
  }
  const workers = Object.entries(options.workers || {}).map(([name, w]) => [name, statsOf(w, 'workers')])
  if (workers.length > 0) {
    out.family('rusque_worker_jobs_total', 'counter', 'Resque jobs a Worker or MultiWorker finished (acked), by outcome.')
    for (const [worker, st] of workers) {
      out.sample('rusque_worker_jobs_total', { worker, outcome: 'completed' }, st.completed)
      out.sample('rusque_worker_jobs_total', { worker, outcome: 'failed' }, st.failed)
    }
  }
  return out.text()
}

module.exports = { Histogram, summary, poolInfo, prometheus, getBounds, SlotStats, workerStats, multiWorkerStats }
