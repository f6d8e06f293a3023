'use strict'

// A node-resque 9.x compatible Worker.
//
// Differences in mechanics (not in contract):
// - Up to `concurrency` jobs run at once. Each one runs in a "slot" that is
//   registered in Redis as a worker of its own (slot 0 under `name`, slot i
//   under `name#i`), so every in-flight job has the working-on key, ping and
//   stats that node-resque's Queue and Scheduler expect.
// - Acknowledging finished jobs and claiming new ones is one Lua call for all
//   slots at once: a step (lua/step-js.lua). The claim pops the queue entry and writes
//   the working-on key atomically, so a killed worker never loses a job.
// - Dead workers (stale ping) are recovered by survivors: their in-flight job
//   is re-queued or failed (option `recovery`). Pings come from a Rust thread
//   of this process (alive.js), so a job that blocks the JS thread for a while
//   does not make its worker look dead.
//
// The per-job path (perform.js) sees one job at a time and knows nothing of
// Redis. A worker whose jobs are all native() (with no plugins but those the
// Rust loop runs itself: plugins.js) runs the Rust loop instead (native-loop.js): claim, I/O, task and ack happen in Rust threads,
// with the same Redis layout and events; the JS thread only sees events.

const { EventEmitter } = require('events')
const os = require('os')
const crypto = require('crypto')
const { Connection } = require('./connection')
const { Producer, exec } = require('./producer')
const { workerKeys } = require('./keys')
const { performJob, performInline } = require('./perform')
const { Recovery, normalizeRecovery } = require('./recovery')
const { Alive } = require('./alive')
const { NativeLoop, loopTarget } = require('./native-loop')
const { SlotStats, workerStats } = require('../metrics')
const debug = require('../debug')
const { NativeJobs } = require('./native-job')
const { failureRecord } = require('./failure')
const { nativePlugins } = require('./plugins')
const { RusqueError, invalidArg, UNHANDLED_ERROR_WARNING: WARNING, codes } = require('../errors')

// A job found in a slot's working-on key at start this many times in a row
// (each process under that name died running it) is filed in failed instead.
const MAX_RESUMES = 5

const EMITTER_METHODS = ['emit', 'on', 'once', 'off', 'addListener', 'removeListener', 'removeAllListeners', 'listenerCount', 'listeners']

function prepareJobs (jobs) {
  const out = {}
  for (const name of Object.keys(jobs || {})) {
    const job = jobs[name]
    out[name] = typeof job === 'function' ? { perform: job } : job
  }
  return out
}

function normalizeQueues (queues) {
  if (queues === undefined || queues === null) return ['*']
  if (typeof queues === 'string') return queues.split(',').map((q) => q.trim()).filter(Boolean)
  if (!Array.isArray(queues)) throw invalidArg('queues must be an array of queue names or "*"')
  return queues.slice()
}

/** A ping value in node-resque's format (the Rust thread adds rusque's `lag`). */
function pingValue (name, queues, time) {
  return JSON.stringify({ time, name, queues })
}

// run_at is a Date string with one-second resolution; build it once a second.
let runAtSecond = -1
let runAtString = ''
function runAtNow () {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== runAtSecond) {
    runAtSecond = second
    runAtString = new Date(now).toString()
  }
  return runAtString
}

class Worker extends EventEmitter {
  constructor (options = {}, jobs = {}) {
    super()
    options.name = options.name ?? os.hostname() + ':' + process.pid
    options.id = options.id ?? 1
    options.queues = options.queues ?? '*'
    options.timeout = options.timeout ?? 5000
    options.looping = options.looping ?? true
    options.concurrency = options.concurrency ?? 1
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1 || options.concurrency > 4096) {
      throw invalidArg(`concurrency must be an integer from 1 to 4096, got ${options.concurrency}`)
    }
    if (options.roots !== undefined && !Array.isArray(options.roots)) {
      throw invalidArg('roots must be an array of directories that native jobs may read and write')
    }

    this.options = options
    this.jobs = prepareJobs(jobs)
    this.name = options.name
    this.id = options.id

    const queues = normalizeQueues(options.queues)
    this.wildcard = queues.length === 0 || (queues.length === 1 && queues[0] === '*')
    this.queues = this.wildcard ? [] : queues
    this.originalQueue = this.wildcard ? '*' : null
    // The registered queue list is fixed for the worker's life ('*' for a
    // wildcard worker, as Ruby resque registers it), so working-on keys never move.
    this.registeredQueues = this.wildcard ? '*' : queues.join(',')
    // Calls that a JS loop would fail as jobs while their callers wait out
    // their timeouts: refused now instead.
    if (this._remoteJobs().length > 0 && !this._nativeJobsOnly()) {
      throw invalidArg(`${this._remoteJobs().join(', ')}: remote calls are answered by the Rust loop only; give this Worker native jobs only (remoteJobs() and native() ones), named queues, and nativeLoop left on`)
    }

    this.queue = null
    this.job = null
    this.error = null
    this.result = null
    this.ready = true
    this.started = false
    this.running = false
    this.working = false
    this.pollTimer = null
    this.pingTimer = null
    this.endTimer = null
    this._startedLoop = false // start() got past its connect: one fetch loop per Worker

    this.connection = new Connection(options.connection || {})
    // Roots are checked and opened here, once (absolute paths to existing
    // directories; ERR_INVALID_ARG names a bad one), and the keys option with
    // them: a misconfigured Worker fails at construction, not job by job.
    // The JS loop's native jobs run through this; the Rust loop opens the
    // same roots by the same rule when it starts.
    // followSymlinks (true or false) is checked there too.
    this._nativeJobs = new NativeJobs({ roots: options.roots, followSymlinks: options.followSymlinks, namespace: this.connection.key(), keys: options.keys })
    this.queueObject = new Producer(this.connection, this.jobs)
    this.connection.on('error', (err) => this._error(err))
    this.recovery = normalizeRecovery(options.recovery, options.timeout)

    this.slots = []
    for (let i = 0; i < options.concurrency; i++) this.slots.push(this._makeSlot(i))
    this._slotStats = this.slots.map(() => new SlotStats()) // for stats(); lib/metrics.js

    this._acks = []
    // Step ids (lua/step-id.lua): a token of this Worker's (16 hex digits)
    // and a sequence (16 decimal digits). A step that failed is sent again
    // with its id and its acks (`_unsent`).
    this._stepToken = crypto.randomBytes(8).toString('hex')
    this._stepSeq = 0
    this._stepKey = this.slots[0].keys.step
    this._unsent = null
    this._busy = 0
    this._flushQueued = false
    this._flushing = null
    this._retryTimer = null
    this._retryDelay = 0
    this._idleWaiters = []
    this._pinging = null
    this._pingedAt = 0 // time of the last ping from this thread
    this._alive = null // the Rust ping thread (alive.js), once init() started it
    this._recoverer = null
    this._lastUnhandled = 0
    this._closed = false
    this._ending = false
    this._connectWait = null // start()'s connect attempt (a promise) or its backoff timer
    this._native = null
    this._flush = this._flush.bind(this)
  }

  _makeSlot (index) {
    const name = index === 0 ? this.name : this.name + '#' + index
    let ctx = this
    if (this.options.concurrency > 1) {
      // Each job sees its own name/job/error/result, and the worker for the rest.
      ctx = Object.create(this)
      for (const m of EMITTER_METHODS) ctx[m] = this[m].bind(this)
      Object.assign(ctx, { name, job: null, queue: null, error: null, result: null, slot: index })
    }
    return {
      index,
      name,
      ctx,
      keys: workerKeys(this.connection.key, name, this.registeredQueues),
      suffix: ',"worker":' + JSON.stringify(name) + '}',
      state: 'idle', // idle | running
      paused: false,
      done: false, // looping: false, and this slot worked its one job
      expected: null, // the working-on value our claim wrote
      fresh: true // no claim yet: a job held in Redis now was left by an earlier process
    }
  }

  async connect () {
    await this.connection.connect()
    this._checkRemoteLoop()
    await this.checkQueues()
  }

  /** Throws if it has remoteJobs() but its connection keeps it from the Rust loop. */
  _checkRemoteLoop () {
    if (this._remoteJobs().length > 0 && !this.nativeLoop) {
      throw invalidArg(`${this._remoteJobs().join(', ')}: remote calls are answered by the Rust loop only, which cannot use this connection: ${loopTarget(this.connection.redis).unsupported}`)
    }
  }

  /** The names of its remoteJobs() definitions. */
  _remoteJobs () {
    return Object.keys(this.jobs).filter((n) => this.jobs[n].native && this.jobs[n].native.remote === true)
  }

  /**
   * start() on a worker that is not connected yet waits for Redis: a failed
   * attempt is an 'error' event and the next one follows with backoff, until
   * one succeeds (true) or end() is called (false).
   */
  async _connectRetrying () {
    let delay = 0
    for (;;) {
      this._connectWait = this.connect()
      try {
        await this._connectWait
        return !this._ending
      } catch (err) {
        if (this._ending) return false
        this._error(err)
        // A Worker its connection does not suit (connect()) will not be suited later.
        if (err && err.code === codes.ERR_INVALID_ARG) return false
      } finally {
        this._connectWait = null
      }
      delay = Math.min(Math.max(delay * 2, 100), Math.max(this.options.timeout, 1000))
      await new Promise((resolve) => {
        this._connectWait = { resolve, timer: setTimeout(resolve, delay) }
      })
      this._connectWait = null
      if (this._ending) return false
    }
  }

  /**
   * True when every job is a native() definition whose plugins (if any) are
   * standard ones the Rust loop runs (plugins.js: one of node-resque's own),
   * the worker loops over named queues, `nativeLoop` was not set to false,
   * and, once connected, Rust threads can reach Redis as its client does
   * (loopTarget in native-loop.js): such a worker runs its fetch-to-ack loop in Rust.
   */
  get nativeLoop () {
    return this._nativeJobsOnly() && (this.connection.redis === null || !loopTarget(this.connection.redis).unsupported)
  }

  /** The part of `nativeLoop` its options and jobs decide. */
  _nativeJobsOnly () {
    const names = Object.keys(this.jobs)
    return this.options.nativeLoop !== false && names.length > 0 && this.options.looping && !this.wildcard &&
      names.every((n) => this.jobs[n].native && nativePlugins(this.jobs[n]) !== null)
  }

  /**
   * Connects first if needed (retrying, see _connectRetrying), registers
   * (init()), and begins the first poll before it returns, as node-resque's
   * start() does: a job already queued is claimed even if end() follows at
   * once, and end() waits for it.
   */
  async start () {
    if (!this.ready || this._startedLoop || this._closed || this._connectWait !== null) return
    if (this.connection.redis === null && !(await this._connectRetrying())) return
    if (this._ending || this._startedLoop) return
    try {
      this._checkRemoteLoop() // connected by an earlier connect() that threw it
    } catch (err) {
      this._error(err)
      return
    }
    this._startedLoop = true
    this.started = true
    this.emit('start', new Date())
    debug('worker %s started: %d slots, %s loop', this.name, this.slots.length, this.nativeLoop ? 'Rust' : 'JS')
    if (this._nativeJobsOnly() && !this.nativeLoop) {
      debug('worker %s: the JS loop runs its native jobs: the Rust loop cannot use %s', this.name, loopTarget(this.connection.redis).unsupported)
    }
    await this.init()
    if (!this.running) return // end() was called while we were starting
    if (this.recovery) {
      this._recoverer = new Recovery(this, this.recovery)
      this._recoverer.start()
    }
    if (this.nativeLoop) return this._startNative()
    this._flush() // sends the first step (ack-free claims) now, not on a later tick
  }

  async _startNative () {
    // The Rust slots ping (and re-register) from here on.
    if (this.pingTimer) { clearInterval(this.pingTimer); this.pingTimer = null }
    await this._stopAlive()
    const jobs = {}
    for (const [name, def] of Object.entries(this.jobs)) {
      jobs[name] = { task: def.native.task, defaults: def.native.defaults, plugins: nativePlugins(def) || undefined, remote: def.native.remote === true }
    }
    const target = loopTarget(this.connection.redis)
    this._native = new NativeLoop({
      url: target.url,
      nodes: target.nodes,
      namespace: this.connection.key(),
      queues: this.queues,
      slots: this.slots.map((s) => s.name),
      timeout: this.options.timeout,
      roots: this.options.roots,
      followSymlinks: this.options.followSymlinks,
      keys: this.options.keys,
      jobs
    }, this)
    await this._native.start()
  }

  /**
   * Registers the worker in Redis as node-resque's init() does: each slot in
   * the `workers` set, its `worker:<name>:<queues>:started` key and a ping;
   * then pings every `timeout` ms, from a Rust thread (alive.js) when the
   * connection allows. start() calls it. Called alone on a
   * connected worker, it makes the worker visible to node-resque's
   * queue.workers(), allWorkingOn() and forceCleanWorker() without working
   * any job; end() unregisters it.
   */
  async init () {
    if (this.connection.redis === null) {
      throw new RusqueError(codes.ERR_NOT_CONNECTED, `Worker ${this.name}: init() needs a connected worker; call connect() first`)
    }
    this.running = true
    const { redis, key } = this.connection
    const now = Math.round(Date.now() / 1000)
    const multi = redis.multi().sadd(key('workers'), this.slots.map((s) => s.keys.entry))
    for (const s of this.slots) multi.set(s.keys.started, now)
    await exec(multi)
    await this._ping()
    if (!this.running || this.pingTimer !== null || this._alive !== null) return // ended meanwhile, or init() ran before
    // The Rust loop's slots ping for themselves.
    if (!(this._startedLoop && this.nativeLoop)) {
      this._alive = new Alive(this, pingValue(this.slots[0].name, this.registeredQueues, this._pingedAt))
      await this._alive.ready
    }
    if (!this.running || this.pingTimer !== null) return
    this.pingTimer = setInterval(() => { this._ping() }, this.options.timeout)
  }

  /** Stops the Rust ping thread, if any; resolves once none of its pings can land. */
  async _stopAlive () {
    const alive = this._alive
    if (alive === null) return
    await alive.stop()
    if (this._alive === alive) this._alive = null
  }

  /** Stops claiming, waits for running jobs, acknowledges them, unregisters. */
  async end () {
    this._ending = true
    const waiting = this._connectWait
    if (waiting !== null) {
      // start() is waiting for Redis: stop that, and let an attempt in flight
      // settle so no client is left behind.
      if (typeof waiting.then === 'function') await waiting.catch(() => {})
      else { clearTimeout(waiting.timer); waiting.resolve() }
    }
    if (this._native) {
      this.running = false
      if (this.pingTimer) { clearInterval(this.pingTimer); this.pingTimer = null }
      if (this._pinging) await this._pinging
      await this._stopAlive()
      if (this._recoverer) { this._recoverer.stop(); await this._recoverer.idle(); this._recoverer = null }
      await this._native.end()
      // init() registered every slot; a slot whose Rust loop never got as far
      // as its first poll (Redis unreachable from it) did not unregister.
      const silent = this.slots.filter((s, i) => !this._native.polled[i])
      this._native.stats().forEach((n, i) => this._slotStats[i].add(n)) // keep the Rust loop's counts
      this._native = null
      if (silent.length > 0 && this.connection.connected) {
        try { await this._untrack(silent) } catch (err) { this._error(err) }
      }
      this._closed = true
      this.connection.end()
      debug('worker %s ended', this.name)
      this.emit('end', new Date())
      return
    }
    this.running = false
    if (this.pollTimer) { clearTimeout(this.pollTimer); this.pollTimer = null }
    if (this.pingTimer) { clearInterval(this.pingTimer); this.pingTimer = null }
    if (this._recoverer) { this._recoverer.stop(); await this._recoverer.idle(); this._recoverer = null }
    // A claim already in flight may still hand us jobs: run them, then ack.
    for (;;) {
      if (this._flushing !== null) await this._flushing
      if (this._busy > 0) {
        await new Promise((resolve) => this._idleWaiters.push(resolve))
        continue
      }
      if (this._unacked() > 0 && !(await this._drainAcks())) break
      if (this._flushing === null && this._busy === 0 && this._unacked() === 0) break
    }
    if (this._pinging) await this._pinging
    // Before unregistering: a ping landing after it would register the worker again.
    await this._stopAlive()
    // Acks end() gave up on stay for recovery: no retry may send them while
    // (or after) the slots unregister.
    if (this._retryTimer !== null) { clearTimeout(this._retryTimer); this._retryTimer = null }
    if (this.connection.redis !== null && this.connection.connected) {
      try {
        await this._untrack()
      } catch (err) {
        this._error(err)
      }
    }
    this._closed = true
    this.connection.end()
    debug('worker %s ended', this.name)
    this.emit('end', new Date())
  }

  async _untrack (among = this.slots) {
    const { redis, key } = this.connection
    const pending = this._unsent ? this._unsent.acks.concat(this._acks) : this._acks
    const unacked = new Set(pending.map((a) => a.slot))
    const slots = among.filter((s) => !unacked.has(s)) // unacked: leave for recovery
    if (slots.length === 0) return
    // Every slot is idle now, so a working-on value can only be a claim whose
    // reply never reached us (Redis dropped mid-step): give that job back.
    const held = await redis.mget(slots.map((s) => s.keys.workingOn))
    for (let i = 0; i < slots.length; i++) {
      if (held[i] !== null) await this._giveBack(slots[i], held[i])
    }
    const multi = redis.multi()
    for (const s of slots) {
      multi.srem(key('workers'), s.keys.entry)
        .del(s.keys.ping, s.keys.workingOn, s.keys.started, s.keys.failed, s.keys.processed)
    }
    if (unacked.size === 0 && slots.includes(this.slots[0])) multi.del(this._stepKey)
    await exec(multi)
  }

  async _giveBack (slot, workingOn) {
    const { redis, key } = this.connection
    let parsed = null
    try { parsed = JSON.parse(workingOn) } catch {}
    const job = parsed && parsed.payload
    const ok = job !== null && typeof job === 'object' && typeof job.class === 'string' && typeof parsed.queue === 'string'
    const target = ok ? key('queue', parsed.queue) : key('failed')
    const item = ok
      ? JSON.stringify(job)
      : failureRecord(slot.name, parsed && parsed.queue, job ?? workingOn, 'InvalidPayload', 'unreadable working-on value found at end()', [])
    let ping = await redis.get(slot.keys.ping)
    if (ping === null) {
      ping = pingValue(slot.name, this.registeredQueues, Math.round(Date.now() / 1000))
      await redis.set(slot.keys.ping, ping)
    }
    await redis.rusqueRecover(slot.keys.ping, key('workers'), slot.keys.workingOn, slot.keys.started, slot.keys.failed,
      slot.keys.processed, target, key('stat', 'failed'), ping, workingOn, slot.keys.entry, ok ? 'requeue' : 'fail', item)
  }

  async performInline (func, args = []) {
    if (this.started) throw new Error('Worker#performInline can not be used on a started worker')
    return performInline(this, func, args)
  }

  /** For a '*' worker: reloads the queue list from Redis (sorted, as node-resque does). */
  async checkQueues () {
    if (!this.wildcard) {
      this.ready = this.queues.length > 0
      return
    }
    const queues = await this.connection.redis.smembers(this.connection.key('queues'))
    this.queues = queues ? queues.sort() : []
    this.ready = true
  }

  // --- fetch / ack loop -----------------------------------------------------

  _schedule () {
    if (this._closed || this._flushQueued || this._flushing !== null || this._retryTimer !== null) return
    this._flushQueued = true
    setImmediate(this._flush)
  }

  _claimable () {
    const out = []
    if (!this.running || this.queues.length === 0) return out
    for (const s of this.slots) if (s.state === 'idle' && !s.paused && !s.done) out.push(s)
    return out
  }

  _flush () {
    this._flushQueued = false
    if (this._flushing !== null) return this._flushing
    // A step that failed with acks may have run: it goes again with the same
    // id and the same acks (the step script then knows it if it did). Acks
    // finished since wait for the next step, and so do their slots' claims: their
    // working-on keys still hold the finished jobs.
    const unsent = this._unsent
    const acks = unsent ? unsent.acks : this._acks
    let claims = this._claimable()
    if (unsent && this._acks.length > 0) {
      const waiting = new Set(this._acks.map((a) => a.slot))
      claims = claims.filter((s) => !waiting.has(s))
    }
    if (acks.length === 0 && claims.length === 0) {
      if (this.running && this.queues.length === 0 && this.pollTimer === null) {
        this._emitSafe('poll', null)
        this._pause()
      }
      return Promise.resolve()
    }
    const id = unsent ? unsent.id : this._stepToken + ':' + String(++this._stepSeq).padStart(16, '0')
    if (!unsent) this._acks = []
    this._unsent = null
    this._flushing = this._step(id, acks, claims).then(
      () => {
        this._flushing = null
        this._retryDelay = 0
        this._reschedule()
      },
      (err) => {
        this._flushing = null
        // Claims alone are safe to repeat under a new id (a claim lands only
        // in an empty key; a held job comes back).
        this._unsent = acks.length > 0 ? { id, acks } : null
        if (this._closed) return
        this._error(err, this.queue)
        // Back off (Redis is likely away) and try again.
        this._retryDelay = Math.min(Math.max(this._retryDelay * 2, 100), Math.max(this.options.timeout, 1000))
        this._retryTimer = setTimeout(() => { this._retryTimer = null; this._schedule() }, this._retryDelay)
      })
    return this._flushing
  }

  /** Finished jobs whose ack has not landed yet. */
  _unacked () {
    return this._acks.length + (this._unsent ? this._unsent.acks.length : 0)
  }

  _reschedule () {
    if (this._unacked() > 0 || this._claimable().length > 0) this._schedule()
  }

  /** One step (lua/step-js.lua): `acks` acknowledged, `claims` slots given a job. */
  async _step (id, acks, claims) {
    const { redis, key } = this.connection
    const queues = claims.length > 0 ? this.queues : []
    const keys = [key('stat', 'processed'), key('stat', 'failed'), key('failed'), this._stepKey]
    const argv = [acks.length, queues.length, claims.length, new Date().toString(), id]
    for (const a of acks) {
      keys.push(a.slot.keys.workingOn, a.slot.keys.processed, a.slot.keys.failed)
      argv.push(a.expected, a.outcome, a.failedEntry)
    }
    const runAt = runAtNow()
    const prefixes = new Array(queues.length)
    for (let i = 0; i < queues.length; i++) {
      const q = queues[i]
      keys.push(key('queue', q))
      prefixes[i] = '{"run_at":' + JSON.stringify(runAt) + ',"queue":' + JSON.stringify(q) + ',"payload":'
      argv.push(prefixes[i], q)
    }
    for (const s of claims) {
      keys.push(s.keys.workingOn, s.keys.failed)
      argv.push(s.suffix, s.name)
    }
    // node-resque polls once it has reported the job it finished: in a step
    // that acks, the poll events follow the acked jobs' success/failure.
    if (acks.length === 0) for (const q of queues) this._emitSafe('poll', q)

    const [, claimed, bad] = await redis.rusqueStep(keys.length, ...keys, ...argv)

    for (const a of acks) this._afterAck(a)
    if (acks.length > 0) for (const q of queues) this._emitSafe('poll', q)

    for (const [qIndex, raw, reason] of bad) {
      const q = queues[qIndex - 1]
      const err = new Error(`Invalid queue entry moved to failed: ${reason}`)
      err.name = 'InvalidPayload'
      this._emitSafe('failure', q, raw, err, 0)
    }

    let got = 0
    for (let i = 0; i < claims.length; i++) {
      const s = claims[i]
      const [qIndex, raw] = claimed[i]
      if (qIndex === 0) {
        s.paused = true
        continue
      }
      const fresh = s.fresh
      s.fresh = false
      got++
      if (qIndex > 0) {
        this._begin(s, queues[qIndex - 1], raw, prefixes[qIndex - 1] + raw + s.suffix)
      } else {
        this._resume(s, raw, fresh)
      }
    }
    if (claims.length > 0 && got < claims.length) {
      if (got === 0) this._pause()
      else this._armPauseTimer()
    } else if (got > 0) {
      // Every claim found work, so the queues are not dry: slots paused by an
      // earlier empty poll may claim again now rather than at the next timer.
      for (const s of this.slots) s.paused = false
    }
  }

  _pause () {
    this._emitSafe('pause')
    this._armPauseTimer()
  }

  _armPauseTimer () {
    if (this.pollTimer !== null || !this.running) return
    this.pollTimer = setTimeout(async () => {
      this.pollTimer = null
      if (!this.running) return
      if (this.wildcard) {
        try {
          await this.checkQueues()
        } catch (err) {
          this._error(err)
        }
      }
      for (const s of this.slots) s.paused = false
      this._schedule()
    }, this.options.timeout)
  }

  _resume (slot, workingOn, fresh) {
    // A job this slot name already held: our own claim whose reply was lost, or
    // (`fresh`: the slot's first claim) a previous process with the same name
    // that died mid-job; only the latter counts towards MAX_RESUMES.
    let queue = null
    let raw = null
    try {
      const parsed = JSON.parse(workingOn)
      queue = parsed.queue
      raw = parsed.payload !== null && typeof parsed.payload === 'object' ? JSON.stringify(parsed.payload) : null
    } catch {}
    this._begin(slot, queue, raw, workingOn, fresh)
  }

  /**
   * Runs a job found in the slot's working-on key at start unless processes
   * of this name died running it more than MAX_RESUMES times in a row: a job
   * that kills its worker (out of memory, say) would otherwise crash-loop a
   * worker whose name is stable across restarts (a container's hostname and
   * pid 1). resume.lua counts, per job, beside node-resque's keys (the Rust
   * loop keeps the same count); the count is cleared once the job's ack lands.
   */
  async _performResumed (slot, queue, raw) {
    const { redis, key } = this.connection
    const counter = slot.keys.resumes
    let runs = 0
    try {
      runs = await redis.rusqueCountResume(slot.keys.workingOn, counter)
    } catch {} // Redis away (past ioredis' retries): run it uncounted; its ack waits for Redis anyway.
    let outcome
    if (runs > MAX_RESUMES) {
      let job = raw
      try { job = JSON.parse(raw) } catch {}
      const error = new RusqueError(codes.ERR_INTERNAL, `its worker stopped ${runs} times while running this job; not running it again`)
      outcome = { outcome: 'f', queue, job, result: null, error, duration: 0 }
    } else {
      outcome = await performJob(slot.ctx, queue, raw)
    }
    outcome.resumeCounter = counter
    return outcome
  }

  _begin (slot, queue, raw, expected, counted = false) {
    slot.state = 'running'
    slot.expected = expected
    if (!this.options.looping) slot.done = true
    this._busy++
    this.working = true
    const run = counted ? this._performResumed(slot, queue, raw) : performJob(slot.ctx, queue, raw)
    run
      .catch((error) => ({ outcome: 'f', queue, job: raw, result: null, error, duration: 0 }))
      .then((outcome) => this._finish(slot, outcome))
  }

  _finish (slot, outcome) {
    outcome.slot = slot
    outcome.expected = slot.expected
    outcome.failedEntry = outcome.outcome === 'f' ? this._failedEntry(slot, outcome) : ''
    slot.expected = null
    slot.state = 'idle'
    this._busy--
    this.working = this._busy > 0
    this._acks.push(outcome)
    this._schedule()
    if (this._busy === 0 && this._idleWaiters.length > 0) {
      const waiters = this._idleWaiters
      this._idleWaiters = []
      for (const w of waiters) w()
    }
  }

  _afterAck (a) {
    if (a.resumeCounter) this.connection.redis.del(a.resumeCounter).catch(() => {})
    const ctx = a.slot.ctx
    this._slotStats[a.slot.index].count(a.outcome, a.duration)
    if (a.outcome === 's') this._emitSafe('success', a.queue, a.job, a.result, a.duration)
    else if (a.outcome === 'f') this._emitSafe('failure', a.queue, a.job, a.error, a.duration)
    if (ctx.job === a.job) ctx.job = null
  }

  /**
   * Jobs this worker finished (acked) since it was made, in total and per
   * slot: { completed, failed, runTime: { p50, p99, max } (ms), slots: [{ name, ... }] }.
   * Either loop counts, the Rust loop's slots included.
   */
  stats () {
    const live = this._native ? this._native.stats() : null
    return workerStats(this.slots.map((s, i) => ({ name: s.name, stats: this._slotStats[i], live: live && live[i] })))
  }

  _failedEntry (slot, o) {
    const err = o.error || new Error('unknown error')
    // rusque's own errors are best known by their stable code.
    const exception = err.name === 'RusqueError' && err.code ? err.code : err.name
    const backtrace = err.stack ? String(err.stack).split('\n').slice(1) : null
    return failureRecord(slot.name, o.queue, o.job, exception, err.message, backtrace)
  }

  /** Sends pending acks, retrying for a while; false if Redis would not take them. */
  async _drainAcks () {
    const deadline = Date.now() + Math.max(this.options.timeout, 5000)
    for (;;) {
      if (this._flushing !== null) await this._flushing
      if (this._unacked() === 0) return true
      if (this._retryTimer !== null) { clearTimeout(this._retryTimer); this._retryTimer = null }
      if (Date.now() > deadline) {
        this._error(new Error(`end(): could not acknowledge ${this._unacked()} finished job(s); their working-on keys stay in Redis for recovery`))
        return false
      }
      await this._flush()
      if (this._unacked() > 0) await new Promise((resolve) => setTimeout(resolve, Math.max(this._retryDelay, 100)))
    }
  }

  // --- liveness -------------------------------------------------------------

  /**
   * On the ping timer. While the Rust thread pings (alive.js) this only
   * reports its pings as `ping` events; otherwise (before it starts, or when
   * the connection cannot be given to it) this thread pings.
   */
  _ping () {
    if (this._alive !== null && this._alive.active) return this._alive.report()
    if (!this.running || this._pinging) return this._pinging
    const now = Math.round(Date.now() / 1000)
    this._pingedAt = now
    this._emitSafe('ping', now)
    const { redis, key } = this.connection
    const work = async () => {
      try {
        await Promise.all(this.slots.map((s) => redis.set(s.keys.ping, pingValue(s.name, this.registeredQueues, now))))
        // Re-register: a stall long enough for another worker to recover us
        // must not leave us working unseen.
        if (this.running) await redis.sadd(key('workers'), this.slots.map((s) => s.keys.entry))
      } catch (err) {
        this._error(err)
      } finally {
        this._pinging = null
      }
    }
    this._pinging = work()
    return this._pinging
  }

  // A listener that throws must not break the fetch/ack loop (a slot would
  // stay busy, or an ack be sent twice): its error becomes an 'error' event.
  _emitSafe (event, ...args) {
    try {
      this.emit(event, ...args)
    } catch (err) {
      try {
        this._error(err)
      } catch (again) {
        process.nextTick(() => { throw again })
      }
    }
  }

  _error (err, queue, job) {
    if (this.listenerCount('error') > 0) {
      this.emit('error', err, queue, job)
      return
    }
    // Without a listener an 'error' event would crash the process; Redis
    // outages must not, so say it on stderr at most once a second.
    const now = Date.now()
    if (now - this._lastUnhandled > 1000) {
      this._lastUnhandled = now
      process.emitWarning(`rusque Worker ${this.name}: ${err && err.message} (add an 'error' listener to handle this)`, WARNING)
    }
  }
}

// `await using worker = new Worker(...)`: leaving the scope ends the worker
// (running jobs finish and are acknowledged, its Redis connection closes).
if (typeof Symbol.asyncDispose === 'symbol') {
  Worker.prototype[Symbol.asyncDispose] = function () { return this.end() }
}

module.exports = { Worker, prepareJobs }
