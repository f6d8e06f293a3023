'use strict'

// The Rust fetch-to-ack loop for workers whose jobs are all native(): Redis
// claim, input read, task on the pool, output write and ack all happen in
// Rust threads (one per slot). The JS thread only receives events, in batches,
// and re-emits them with node-resque's argument lists.

const binding = require('../load').load()
const debug = require('../debug')
const { RusqueError, fromNative, codes } = require('../errors')
const { toJson, accessConfig } = require('./native-job')
const { nativeTarget } = require('./redis-target')
const { noopLog } = require('./plugins')

// Event kinds sent by the Rust loop, as numbers: each is its index in the
// Rust list (rusque_resque::worker::Event::KINDS), read once from the binding.
const KINDS = binding.eventKinds()
const KIND = Object.freeze(Object.fromEntries(KINDS.kinds.map((name, i) => [name, i])))

/**
 * The error a `failure` event carries, as the JS loop builds it: InvalidPayload
 * for entries that are not jobs, a plain Error for an unknown class, else a
 * RusqueError with the task's code.
 */
function failureError (exception, code, message) {
  if (exception === 'InvalidPayload') {
    const err = new Error(message)
    err.name = 'InvalidPayload'
    return err
  }
  if (exception === 'Error') return new Error(message)
  return new RusqueError(code, message)
}

/**
 * What node-resque's Retry passes as `job` to `reEnqueue`: the job's
 * definition, given the job's args (as its plugin sets `this.job.args`).
 */
function reEnqueued (emitter, payload) {
  const definition = emitter.jobs && payload && emitter.jobs[payload.class]
  if (!definition) return payload
  definition.args = payload.args
  return definition
}

// The per-job events the Rust loop can leave out when nobody listens, by mask bit.
const EVENT_BITS = new Map([['job', KINDS.emitJob], ['success', KINDS.emitSuccess]])

/** The per-job events someone listens for, as the Rust loop's mask bits. */
function eventMask (emitter) {
  return (emitter.listenerCount('job') > 0 ? KINDS.emitJob : 0) | (emitter.listenerCount('success') > 0 ? KINDS.emitSuccess : 0)
}

/**
 * Where the Rust loop's slots connect (nativeTarget: the Worker's own
 * client's server, database and credentials), or `{ unsupported }`: what
 * nativeTarget cannot map, and an ioredis keyPrefix, which the Rust loop
 * would add to the queue's keys but not to the keys jobs name for their input
 * and output (the JS loop's reads and writes go through the client, which
 * adds it). The Worker then runs the JS loop instead (worker.js nativeLoop).
 */
function loopTarget (client) {
  const target = nativeTarget(client)
  if (target.keyPrefix) return { unsupported: 'an ioredis keyPrefix (the Rust loop does not add it to the keys jobs read and write)' }
  return target
}

class NativeLoop {
  /**
   * @param {object} o
   * @param {string} o.url from loopTarget()
   * @param {string[]} [o.nodes] from loopTarget(): a Redis Cluster's nodes
   * @param {string} o.namespace the joined namespace (connection.key())
   * @param {string[]} o.queues
   * @param {string[]} o.slots one worker name per slot
   * @param {number} o.timeout poll interval (ms) when the queues are empty
   * @param {string[]} [o.roots]
   * @param {boolean} [o.followSymlinks] false: no symlink inside the roots is followed
   * @param {object} [o.keys] the Worker's keys option ({ prefix })
   * @param {Record<string, {task: string, defaults: object, plugins?: string, remote?: boolean}>} o.jobs (plugins: plugins.js nativePlugins(); remote: remoteJobs())
   * @param {import('events').EventEmitter} emitter receives node-resque's events
   */
  constructor (o, emitter) {
    this.emitter = emitter
    this.slots = o.slots
    this.ended = null
    this._endResolve = null
    this._liveSlots = 0
    // The NativeWorkerConfig of src/worker.rs: typed fields, each job's
    // defaults as JSON (parsed by the same Rust code as the JS loop's).
    const jobs = {}
    for (const [name, def] of Object.entries(o.jobs || {})) {
      jobs[name] = { task: String(def.task), defaults: toJson(def.defaults || {}), plugins: def.plugins, remote: def.remote === true }
    }
    const config = {
      url: o.url,
      nodes: o.nodes,
      // node-resque takes a namespace as a string or an array of parts; the
      // Rust loop takes them joined, as keyMaker joins them ('' for none).
      namespace: o.namespace,
      queues: o.queues,
      slots: o.slots,
      pollMs: o.timeout,
      pingMs: o.timeout,
      ...accessConfig(o),
      jobs,
      events: eventMask(emitter)
    }
    try {
      this.native = new binding.NativeWorker(config, (batch) => this._onEvents(batch))
    } catch (err) {
      throw fromNative(err)
    }
    // job/success events cost the JS thread a little each: Rust sends each
    // kind only while someone listens for it. The mask follows listeners
    // synchronously: a listener added just before a job is enqueued must be
    // in the mask before that job can be claimed (a mask updated on a later
    // tick let a slot claim and run the job unseen). `newListener` fires
    // before the listener is in the list, so its bit is added here;
    // `removeListener` fires after it is gone, so the count is exact.
    this._events = config.events
    const setMask = (want) => {
      if (want !== this._events) {
        this._events = want
        this.native.setEvents(want)
      }
    }
    emitter.on('newListener', (event) => {
      const bit = EVENT_BITS.get(event)
      if (bit !== undefined) setMask(eventMask(emitter) | bit)
    })
    emitter.on('removeListener', (event) => {
      if (EVENT_BITS.has(event)) setMask(eventMask(emitter))
    })
  }

  /**
   * Starts the slots; resolves once each has done its first poll (or ended),
   * as node-resque's start() returns with its first poll under way. The slots
   * wait after that poll until the tick after this resolves, so listeners
   * added right after `await worker.start()` see the first job's events.
   */
  start () {
    debug('native loop: starting %d slots (%s)', this.slots.length, this.slots.join(', '))
    this._liveSlots = this.slots.length
    this.polled = this.slots.map(() => false)
    this._unsettled = new Set(this.slots.keys())
    this.ended = new Promise((resolve) => { this._endResolve = resolve })
    const firstPoll = new Promise((resolve) => { this._firstPoll = resolve })
    this.native.setActive(true)
    this.native.start()
    return firstPoll
  }

  /** A slot has polled once, or ended: start() resolves when all have. */
  _settled (slot) {
    if (!this._unsettled.delete(slot) || this._unsettled.size > 0) return
    this._firstPoll()
    setImmediate(() => this.native.release())
  }

  /** Per slot, in slot order: { completed, failed, run } (run: a native histogram, lib/metrics.js). */
  stats () {
    return this.native.stats()
  }

  /** Stops claiming; resolves when every slot has finished its job and unregistered. */
  end () {
    if (!this.ended) return Promise.resolve()
    this.native.stop()
    return this.ended
  }

  _onEvents (json) {
    // Each event is [kind, slot, ...] (see event_json in src/events.rs); payloads
    // arrive parsed (an entry that is not JSON arrives as its text).
    const events = JSON.parse(json)
    for (const e of events) {
      // A listener that throws must not cost the rest of the batch (an `end`
      // among them would leave end() waiting forever).
      try {
        this._dispatch(e)
      } catch (err) {
        this._error(err, true)
      }
    }
  }

  _dispatch (e) {
    const em = this.emitter
    switch (e[0]) {
      case KIND.job: // [job, slot, queue, payload]
        em.emit('job', e[2], e[3])
        break
      case KIND.success: // [success, slot, queue, payload, result, duration]
        em.emit('success', e[2], e[3], e[4], e[5])
        break
      case KIND.failure: // [failure, slot, queue, payload, code, message, duration, exception]
        em.emit('failure', e[2], e[3], failureError(e[7], e[4], e[5]), e[6])
        break
      case KIND.reEnqueue: // [reEnqueue, slot, queue, payload, delay, remaining, code, message, exception]: Retry delayed a failed job
        em.emit('reEnqueue', e[2], reEnqueued(em, e[3]), { delay: e[4], remainingAttempts: e[5], err: failureError(e[8], e[6], e[7]) })
        break
      case KIND.noop: // [noop, slot, queue, payload, code, message, exception]: Noop swallowed a failure
        noopLog(em.jobs && e[3] && em.jobs[e[3].class], failureError(e[6], e[4], e[5]))
        break
      case KIND.error: // [error, slot, message]: Redis unreachable or lost; the slot retries
        this._error(new RusqueError(codes.ERR_REDIS_UNREACHABLE, e[2]), false)
        break
      case KIND.pause:
        em.emit('pause')
        break
      case KIND.ready: // [ready, slot]: its first poll is done; it waits for release()
        this.polled[e[1]] = true
        this._settled(e[1])
        break
      case KIND.end:
        debug('native loop: slot %s ended', this.slots[e[1]])
        this._settled(e[1])
        if (--this._liveSlots === 0) {
          this.native.setActive(false)
          this._endResolve()
        }
        break
      default: // start
        break
    }
  }

  /**
   * Reports through the Worker's error path (an `error` event, or a warning
   * when nobody listens); a bare emitter gets an `error` event if it has a
   * listener. What cannot be reported that way is thrown on a later tick when
   * `mustSurface` (a listener's own exception), else dropped.
   */
  _error (err, mustSurface) {
    const em = this.emitter
    try {
      if (typeof em._error === 'function') em._error(err)
      else if (em.listenerCount('error') > 0) em.emit('error', err)
      else if (mustSurface) throw err
    } catch (again) {
      process.nextTick(() => { throw again })
    }
  }
}

module.exports = { KIND, NativeLoop, loopTarget }
