'use strict'

// JobQueue: a priority and concurrency gate in front of the shared Rust pool.
// Waiting jobs live here (a binary heap: higher priority first, FIFO within a
// priority); running jobs are on the pool. Completions arrive in batches from
// the pool's threadsafe function and are turned into events here.

const { EventEmitter } = require('node:events')
const pool = require('./pool')
const { Histogram, summary } = require('./metrics')
const { RusqueError, invalidArg, abortError, codes } = require('./errors')
const { describe, checkSignal, readArg } = require('./args')

function queueError (code, message) {
  return new RusqueError(code, message)
}

// Waiting jobs by priority: one FIFO per priority value and a sorted list of
// the priorities that have jobs. O(1) for the common case of few priorities.
class Fifo {
  constructor () { this.items = []; this.head = 0 }
  get length () { return this.items.length - this.head }
  push (x) { this.items.push(x) }
  shift () {
    const x = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return x
  }
}

class PriorityQueue {
  constructor () {
    this.buckets = new Map()
    this.order = [] // priorities with a bucket, highest first
    this.length = 0
  }

  push (job) {
    let b = this.buckets.get(job.priority)
    if (b === undefined) {
      b = new Fifo()
      this.buckets.set(job.priority, b)
      let i = 0
      while (i < this.order.length && this.order[i] > job.priority) i++
      this.order.splice(i, 0, job.priority)
    }
    b.push(job)
    this.length++
  }

  pop () {
    const p = this.order[0]
    const b = this.buckets.get(p)
    const job = b.shift()
    this.length--
    if (b.length === 0) {
      this.buckets.delete(p)
      this.order.shift()
    }
    return job
  }

  * [Symbol.iterator] () {
    for (const p of this.order) {
      const b = this.buckets.get(p)
      for (let i = b.head; i < b.items.length; i++) yield b.items[i]
    }
  }
}

class Job {
  constructor (queue, task, prepared, o, signal, resolve, reject) {
    this.queue = queue
    this.priority = o.priority
    this.id = o.id
    this.task = task
    this.prepared = prepared
    this.signal = signal
    this.timeout = o.timeout
    this.resolve = resolve
    this.reject = reject
    this.addedAt = performance.now()
    this.startedAt = 0
    this.nativeId = 0
    this.state = 'waiting'
    this.settled = false
    this.timer = null
    this.onAbort = null
    this.info = null
  }

  // Called by lib/pool when the pool reports this job done.
  complete (err, value) {
    this.queue._finish(this, err, value)
  }
}

// Job options when none are given: shared, never written.
const DEFAULT_JOB_OPTIONS = Object.freeze({ priority: 0, signal: undefined, timeout: undefined, id: undefined })

function jobOptions (o) {
  if (o === undefined || o === null) return DEFAULT_JOB_OPTIONS
  if (typeof o !== 'object') throw invalidArg(`job options must be an object, got ${describe(o)}`)
  return readArg('job options', () => {
    const priority = o.priority === undefined ? 0 : o.priority
    if (!Number.isInteger(priority)) throw invalidArg(`priority must be an integer, got ${describe(priority)}`)
    const timeout = o.timeout
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout))) {
      throw invalidArg(`timeout must be a positive number of milliseconds, got ${describe(timeout)}`)
    }
    const id = o.id
    if (id !== undefined && typeof id !== 'string') throw invalidArg(`id must be a string, got ${describe(id)}`)
    return { priority, signal: checkSignal(o.signal), timeout, id }
  })
}

class JobQueue extends EventEmitter {
  /**
   * @param {{ concurrency?: number, maxQueued?: number }} [options]
   *   concurrency: jobs of this queue on the pool at once (default: pool threads);
   *   maxQueued: waiting jobs allowed before add() rejects with ERR_QUEUE_FULL (default: unbounded).
   */
  constructor (options = {}) {
    super()
    if (options === null || typeof options !== 'object') throw invalidArg('JobQueue options must be an object')
    const { concurrency = pool.poolConfig().threads, maxQueued = Infinity } = options
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw invalidArg(`concurrency must be a positive integer, got ${describe(concurrency)}`)
    }
    if (maxQueued !== Infinity && (!Number.isInteger(maxQueued) || maxQueued < 0)) {
      throw invalidArg(`maxQueued must be a non-negative integer or Infinity, got ${describe(maxQueued)}`)
    }
    this.concurrency = concurrency
    this.maxQueued = maxQueued
    this._heap = new PriorityQueue()
    this._waiting = 0 // live jobs in the heap (aborted ones are removed lazily)
    this._running = 0
    this._paused = false
    this._closed = false
    this._held = false
    this._pumpScheduled = false
    this._idleWaiters = []
    this._counts = { added: 0, completed: 0, failed: 0, cancelled: 0, timedOut: 0, rejected: 0 }
    this._wait = new Histogram()
    this._run = new Histogram()
  }

  /** Jobs waiting to start. */
  get size () { return this._waiting }
  /** Jobs on the pool now. */
  get running () { return this._running }
  get isPaused () { return this._paused }
  get isClosed () { return this._closed }

  /**
   * Queues one job; resolves with exactly what the direct function returns.
   * @param {'resize'|'metadata'|'hash'} task
   */
  add (task, input, taskOptions, options) {
    return new Promise((resolve, reject) => {
      const job = this._make(task, input, taskOptions, options, resolve, reject)
      if (job) this._enqueueOne(job)
    })
  }

  /**
   * Queues many jobs at once: `[{ task, input, options, jobOptions }]` (or
   * `[task, input, options, jobOptions]` tuples). Resolves with the results in
   * order, or rejects with the first failure. Admission is all or nothing.
   */
  addBulk (jobs) {
    if (!Array.isArray(jobs)) return Promise.reject(invalidArg(`addBulk takes an array of jobs, got ${describe(jobs)}`))
    return new Promise((resolve, reject) => {
      const results = new Array(jobs.length)
      let left = jobs.length
      let failed = false
      if (left === 0) return resolve(results)
      const made = []
      for (let i = 0; i < jobs.length; i++) {
        const j = jobs[i]
        const [task, input, taskOptions, options] = Array.isArray(j) ? j : [j && j.task, j && j.input, j && j.options, j && j.jobOptions]
        const job = this._make(task, input, taskOptions, options, (v) => {
          results[i] = v
          if (--left === 0 && !failed) resolve(results)
        }, (err) => {
          if (!failed) { failed = true; reject(err) }
        }, made.length)
        if (job === null) {
          // Already rejected (invalid argument, closed or full): withdraw the rest.
          for (const m of made) m.settled = true
          return
        }
        made.push(job)
      }
      this._enqueue(made)
    })
  }

  _make (task, input, taskOptions, options, resolve, reject, alreadyMade = 0) {
    if (this._closed) {
      reject(queueError(codes.ERR_QUEUE_CLOSED, 'this JobQueue is closed: add() is refused after close()'))
      return null
    }
    let prepared, o
    try {
      prepared = pool.prepare(task, input, taskOptions)
      o = jobOptions(options)
    } catch (err) {
      reject(err)
      return null
    }
    if (this._waiting + alreadyMade + 1 > this.maxQueued) {
      this._counts.rejected++
      reject(queueError(codes.ERR_QUEUE_FULL, `queue is full: ${this._waiting} jobs waiting (maxQueued ${this.maxQueued}); retry later or answer 503`))
      return null
    }
    const signal = o.signal || prepared.signal
    if (signal && signal.aborted) {
      this._counts.cancelled++
      reject(abortError(signal))
      return null
    }
    return new Job(this, task, prepared, o, signal, resolve, reject)
  }

  _enqueue (jobs) {
    for (const job of jobs) if (!job.settled) this._push(job)
    this._updateHold()
    this._schedulePump()
  }

  /** add()'s path: _enqueue of one job without the array. */
  _enqueueOne (job) {
    this._push(job)
    this._updateHold()
    this._schedulePump()
  }

  _push (job) {
    this._counts.added++
    this._heap.push(job)
    this._waiting++
    if (job.signal) {
      job.onAbort = () => this._abort(job, abortError(job.signal), 'cancelled')
      job.signal.addEventListener('abort', job.onAbort, { once: true })
    }
  }

  // Jobs added, or slots freed, in the same tick start together: one pump,
  // one crossing for hash groups. A batch of completions frees its slots
  // together too (see _finish).
  _schedulePump () {
    if (!this._pumpScheduled) {
      this._pumpScheduled = true
      queueMicrotask(() => { this._pumpScheduled = false; this._pump() })
    }
  }

  _info (job) {
    if (job.info === null) job.info = { id: job.id, task: job.task, priority: job.priority }
    return job.info
  }

  _pump () {
    if (this._paused) return
    const hadWaiting = this._waiting > 0
    let hashBatch = null
    let now = 0 // one clock reading for the jobs this pump starts
    while (this._running < this.concurrency && this._heap.length > 0) {
      const job = this._heap.pop()
      if (job.state !== 'waiting') continue // aborted while waiting
      this._waiting--
      job.state = 'running'
      if (now === 0) now = performance.now()
      job.startedAt = now
      this._wait.record(job.startedAt - job.addedAt)
      this._running++
      if (job.timeout !== undefined) {
        job.timer = setTimeout(() => {
          this._abort(job, queueError(codes.ERR_TIMEOUT, `job timed out after ${job.timeout} ms`), 'timedOut')
        }, job.timeout)
      }
      const p = job.prepared
      if (p.kind === pool.KIND_HASH && !job.signal && job.timeout === undefined) {
        // Uncancellable hash jobs go to the pool together: one crossing per pump.
        if (hashBatch === null) hashBatch = new Map()
        let group = hashBatch.get(p.arg)
        if (!group) hashBatch.set(p.arg, (group = { jobs: [], dones: [], owners: [] }))
        group.jobs.push(p)
        group.dones.push(job)
        group.owners.push(job)
      } else {
        job.nativeId = pool.submit(p, job.signal !== undefined || job.timeout !== undefined, job)
      }
      if (this.listenerCount('active') > 0) this._emitSafely('active', this._info(job))
    }
    if (hashBatch !== null) {
      for (const [algorithm, group] of hashBatch) {
        const ids = pool.submitHashMany(group.jobs, algorithm, group.dones)
        for (let i = 0; i < ids.length; i++) group.owners[i].nativeId = ids[i]
      }
    }
    if (this._waiting === 0 && this._heap.length > 0) this._heap = new PriorityQueue() // drop aborted leftovers
    this._updateHold()
    if (hadWaiting && this._waiting === 0) this._emitSafely('drain')
  }

  // Cancel (abort signal or timeout). A waiting job never runs; a running one
  // rejects now and its native task stops at its next checkpoint; its slot is
  // freed when the pool reports it stopped.
  _abort (job, err, counter) {
    if (job.settled) return
    if (job.state === 'waiting') {
      job.state = 'aborted'
      this._waiting--
      this._settle(job, err, undefined, counter)
      this._updateHold()
      if (this._waiting === 0) this._emitSafely('drain')
      this._checkIdle()
    } else if (job.state === 'running') {
      pool.cancel(job.nativeId)
      this._settle(job, err, undefined, counter)
    }
  }

  _finish (job, err, value) {
    this._running--
    job.state = 'done'
    this._run.record(performance.now() - job.startedAt)
    if (!job.settled) this._settle(job, err, value, err ? 'failed' : 'completed')
    // The freed slot is filled once the batch this completion came in is
    // delivered: a batch of completions starts its successors in one pump
    // (one native crossing) instead of one each.
    if (this._waiting > 0) this._schedulePump()
    else this._checkIdle()
  }

  // Settles the job's promise first: a listener that throws afterwards (or
  // anything else here) cannot leave it pending, nor stop the queue.
  _settle (job, err, value, counter) {
    job.settled = true
    this._counts[counter]++
    if (job.timer !== null) { clearTimeout(job.timer); job.timer = null }
    if (err) job.reject(err)
    else job.resolve(value)
    if (job.onAbort !== null) {
      const onAbort = job.onAbort
      job.onAbort = null
      job.signal.removeEventListener('abort', onAbort)
    }
    const info = this._info(job)
    if (err) {
      if (this.listenerCount('failed') > 0) this._emitSafely('failed', info, err)
    } else if (this.listenerCount('completed') > 0) this._emitSafely('completed', info, value)
  }

  // Events emitted while completions are delivered: a listener's exception
  // becomes a process warning (RUSQUE_CALLBACK_THREW) instead of ending the
  // batch or the process.
  _emitSafely (event, ...args) {
    try {
      this.emit(event, ...args)
    } catch (err) {
      pool.reportError(err)
    }
  }

  _checkIdle () {
    if (this._waiting === 0 && this._running === 0) {
      const waiters = this._idleWaiters
      this._idleWaiters = []
      for (const w of waiters) w()
      this._emitSafely('idle')
    }
  }

  // A queue with waiting jobs keeps the process alive (running jobs already do).
  _updateHold () {
    const want = this._waiting > 0
    if (want !== this._held) {
      this._held = want
      if (want) pool.hold()
      else pool.release()
    }
  }

  /** Stops starting new jobs; running ones finish. */
  pause () {
    if (this._paused) return
    this._paused = true
    this.emit('pause')
  }

  resume () {
    if (!this._paused) return
    this._paused = false
    this.emit('resume')
    this._pump()
  }

  /** Resolves when nothing is waiting or running. */
  onIdle () {
    if (this._waiting === 0 && this._running === 0) return Promise.resolve()
    return new Promise((resolve) => this._idleWaiters.push(resolve))
  }

  /**
   * Counts, and wait/run-time summaries in ms ({ p50, p99, max }, from log
   * buckets as poolInfo()'s, since the queue was made). `queued` is
   * `waiting` under poolInfo()'s name.
   */
  stats () {
    return {
      ...this._counts,
      waiting: this._waiting,
      queued: this._waiting,
      running: this._running,
      waitTime: summary(this._wait.counts, this._wait.max),
      runTime: summary(this._run.counts, this._run.max)
    }
  }

  /**
   * Refuses new jobs. With `drain: true` (default) waiting and running jobs
   * finish; with `drain: false` waiting jobs reject with ERR_QUEUE_CLOSED (they
   * never run) and running ones finish. Resolves once the queue is idle.
   */
  close ({ drain = true } = {}) {
    this._closed = true
    if (!drain) {
      const err = () => queueError(codes.ERR_QUEUE_CLOSED, 'JobQueue closed before this job ran')
      const jobs = [...this._heap]
      for (const job of jobs) if (job.state === 'waiting') this._abort(job, err(), 'cancelled')
      this._heap = new PriorityQueue()
    }
    if (this._paused && drain) this.resume()
    return this.onIdle().then(() => { this.emit('close') })
  }
}

// `await using queue = new JobQueue()`: leaving the scope closes the queue and
// waits for its jobs, as close() does. (Symbol.asyncDispose: Node >= 20.4.)
if (typeof Symbol.asyncDispose === 'symbol') {
  JobQueue.prototype[Symbol.asyncDispose] = function () { return this.close() }
}

module.exports = { JobQueue }
