'use strict'

// node-resque's MultiWorker on rusque Workers: grows from minTaskProcessors
// towards maxTaskProcessors while more than half of the workers are busy and
// the event loop is not blocked (delay under maxEventLoopDelay), and shrinks
// when it is blocked or mostly idle. Events are the workers' events with the
// worker id first (error keeps the error first, as node-resque does).

const { EventEmitter } = require('events')
const { multiWorkerStats } = require('../metrics')
const os = require('os')
const { Worker } = require('./worker')
const { invalidArg, UNHANDLED_ERROR_WARNING: WARNING } = require('../errors')
const { NativeJobs } = require('./native-job')
const { keyMaker } = require('./keys')

const FORWARDED = ['start', 'end', 'cleaning_worker', 'poll', 'ping', 'job', 'reEnqueue', 'success', 'failure', 'pause', 'recover']
// What cleanupWorker() removes: node-resque's list, and rusque's `recover`.
const CLEANED = FORWARDED.concat(['error', 'multiWorkerAction'])

class MultiWorker extends EventEmitter {
  constructor (options = {}, jobs = {}) {
    super()
    options.name = options.name ?? os.hostname()
    options.minTaskProcessors = options.minTaskProcessors ?? 1
    options.maxTaskProcessors = options.maxTaskProcessors ?? 10
    options.timeout = options.timeout ?? 5000
    options.checkTimeout = options.checkTimeout ?? 500
    options.maxEventLoopDelay = options.maxEventLoopDelay ?? 10

    const shared = options.connection && options.connection.redis
    if (shared && typeof shared.setMaxListeners === 'function') {
      shared.setMaxListeners(shared.getMaxListeners() + options.maxTaskProcessors)
    }

    if (options.roots !== undefined && !Array.isArray(options.roots)) {
      throw invalidArg('roots must be an array of directories that native jobs may read and write')
    }
    // Its Workers come later; a bad root or keys option fails here, by the Worker's rule.
    // eslint-disable-next-line no-new
    new NativeJobs({ roots: options.roots, followSymlinks: options.followSymlinks, namespace: keyMaker((options.connection && options.connection.namespace) ?? 'resque')(), keys: options.keys })

    this.options = options
    this.jobs = jobs
    this.workers = []
    this.name = options.name
    this.running = false
    this.working = false
    this.eventLoopBlocked = true
    this.eventLoopDelay = Infinity
    this.eventLoopCheckCounter = 0
    this.stopInProcess = false
    this.checkTimer = null
    this._loopTimer = null
    this._checking = false
    this._connectFailures = 0
    this._retryAt = 0 // after a failed connect, no new worker before this time
  }

  _watchEventLoop () {
    if (this._loopTimer) return
    const interval = this.options.checkTimeout
    let last = process.hrtime.bigint()
    this._loopTimer = setInterval(() => {
      const now = process.hrtime.bigint()
      const late = Number(now - last) / 1e6 - interval
      last = now
      this.eventLoopBlocked = late > this.options.maxEventLoopDelay
      this.eventLoopDelay = Math.round(late)
      this.eventLoopCheckCounter++
    }, interval)
    this._loopTimer.unref()
  }

  /**
   * node-resque's startWorker(): adds a worker (id: the number of workers + 1,
   * name `name:pid+id`) whose events this MultiWorker forwards, connects and
   * starts it. The check timer calls it; so may you.
   */
  async startWorker () {
    const id = this.workers.length + 1
    const worker = new Worker({
      connection: this.options.connection,
      queues: this.options.queues,
      timeout: this.options.timeout,
      name: this.options.name + ':' + process.pid + '+' + id,
      concurrency: this.options.concurrency,
      roots: this.options.roots,
      followSymlinks: this.options.followSymlinks,
      keys: this.options.keys,
      recovery: this.options.recovery
    }, this.jobs)
    worker.id = id
    for (const event of FORWARDED) {
      // node-resque forwards start and end with the worker id alone.
      if (event === 'start' || event === 'end') worker.on(event, () => this.emit(event, worker.id))
      else worker.on(event, (...args) => this.emit(event, worker.id, ...args))
    }
    worker.on('error', (error, queue, job) => {
      if (this.listenerCount('error') > 0) this.emit('error', error, worker.id, queue, job)
      else process.emitWarning(`rusque MultiWorker ${this.name} worker ${worker.id}: ${error && error.message} (add an 'error' listener to handle this)`, WARNING)
    })
    this.workers.push(worker)
    try {
      await worker.connect()
    } catch (err) {
      // Not counted as a worker: the next check tries again, after a backoff.
      this.workers.splice(this.workers.indexOf(worker), 1)
      await this.cleanupWorker(worker)
      this._connectFailures++
      this._retryAt = Date.now() + Math.min(this.options.checkTimeout * 2 ** this._connectFailures, Math.max(this.options.timeout, 1000))
      throw err
    }
    this._connectFailures = 0
    this._retryAt = 0
    await worker.start()
  }

  _decide () {
    const n = this.workers.length
    let busy = 0
    for (const w of this.workers) if (w.working) busy++
    this.working = busy > 0
    const { minTaskProcessors: min, maxTaskProcessors: max } = this.options
    if (!this.running) return n > 0 ? '--' : 'x'
    if (this.eventLoopBlocked) return n > min ? '-' : 'x'
    const grow = Date.now() >= this._retryAt ? '+' : 'x'
    if (n < min) return grow
    if (n < max && (n === 0 || busy / n > 0.5)) return grow
    if (n > min && busy / n < 0.5) return '-'
    return 'x'
  }

  /**
   * node-resque's checkWorkers(): from the workers' state and the event loop,
   * starts a worker ('+'), ends the last one ('-'), ends all once stopped
   * ('--') or does nothing ('x'); resolves to { verb, eventLoopDelay }. The
   * check timer calls it every checkTimeout ms and emits multiWorkerAction.
   */
  async checkWorkers () {
    const verb = this._decide()
    if (verb === '+') {
      await this.startWorker()
    } else if (verb === '-') {
      const worker = this.workers.pop()
      if (worker) {
        await worker.end()
        await this.cleanupWorker(worker)
      }
    } else if (verb === '--') {
      this.stopInProcess = true
      const workers = this.workers
      await Promise.all(workers.map(async (w) => {
        await w.end()
        await this.cleanupWorker(w)
      }))
      this.workers = []
      this.stopInProcess = false
    }
    return { verb, eventLoopDelay: this.eventLoopDelay }
  }

  /** node-resque's cleanupWorker(worker): removes the listeners of the events startWorker() forwards. */
  async cleanupWorker (worker) {
    for (const event of CLEANED) worker.removeAllListeners(event)
  }

  async _check () {
    if (this.checkTimer) clearTimeout(this.checkTimer)
    this.checkTimer = null
    if (this._checking) return // one check at a time: a stop must not race a start
    this._checking = true
    let verb
    try {
      verb = (await this.checkWorkers()).verb
    } catch (err) {
      if (this.listenerCount('error') > 0) this.emit('error', err)
      else process.emitWarning(`rusque MultiWorker ${this.name}: ${err && err.message} (add an 'error' listener to handle this)`, WARNING)
      verb = 'x'
    }
    this._checking = false
    this.emit('multiWorkerAction', verb, this.eventLoopDelay)
    if ((this.running || this.workers.length > 0) && this.checkTimer === null) {
      this.checkTimer = setTimeout(() => this._check(), this.options.checkTimeout)
    }
  }

  start () {
    this.running = true
    this._watchEventLoop()
    this._check()
  }

  async stop () {
    this.running = false
    for (;;) {
      if (this.workers.length === 0 && !this.working && !this.stopInProcess) break
      if (this.checkTimer === null && !this._checking) this._check()
      await new Promise((resolve) => setTimeout(resolve, this.options.checkTimeout))
    }
    if (this.checkTimer) clearTimeout(this.checkTimer)
    this.checkTimer = null
    if (this._loopTimer) clearInterval(this._loopTimer)
    this._loopTimer = null
    this.eventLoopBlocked = true
    this.eventLoopDelay = Infinity
  }

  /** The workers' stats() summed: { completed, failed, runTime, workers: [...] } (workers running now). */
  stats () {
    return multiWorkerStats(this.workers.map((w) => w.stats()))
  }

  async end () {
    return this.stop()
  }
}

// `await using multi = new MultiWorker(...)`: leaving the scope ends it, as end() does.
if (typeof Symbol.asyncDispose === 'symbol') {
  MultiWorker.prototype[Symbol.asyncDispose] = function () { return this.end() }
}

module.exports = { MultiWorker }
