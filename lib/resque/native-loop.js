'use strict'

// The Rust fetch-to-ack loop for workers whose jobs are all native(): Redis
// claim, input read, task on the pool, output write and ack all happen in
// Rust threads (one per slot). The JS thread only receives events, in batches,
// and re-emits them with node-resque's argument lists.

const binding = require('../load').load()
const { RusqueError } = require('../errors')

function redisUrl (o) {
  const auth = o.password ? `${encodeURIComponent(o.username || '')}:${encodeURIComponent(o.password)}@` : ''
  const host = o.host && o.host.includes(':') ? `[${o.host}]` : (o.host || '127.0.0.1')
  return `redis://${auth}${host}:${o.port || 6379}/${o.database || o.db || 0}`
}

/** Connection options as node-resque accepts them, including { redis: ioredisClient }. */
function connectionTarget (connection) {
  if (connection && connection.redis && connection.redis.options) {
    const c = connection.redis.options
    return { host: c.host, port: c.port, database: c.db, password: c.password, username: c.username }
  }
  return connection || {}
}

class NativeLoop {
  /**
   * @param {object} o
   * @param {object} o.connection node-resque connection options
   * @param {string[]} o.queues
   * @param {string[]} o.slots one worker name per slot
   * @param {number} o.timeout poll interval (ms) when the queues are empty
   * @param {string[]} [o.roots]
   * @param {Record<string, {task: string, defaults: object}>} o.jobs
   * @param {import('events').EventEmitter} emitter receives node-resque's events
   */
  constructor (o, emitter) {
    this.emitter = emitter
    this.slots = o.slots
    this.ended = null
    this._endResolve = null
    this._liveSlots = 0
    const verbose = ['job', 'success'].some((e) => emitter.listenerCount(e) > 0)
    const config = {
      url: redisUrl(connectionTarget(o.connection)),
      namespace: (o.connection && o.connection.namespace) || 'resque',
      queues: o.queues,
      slots: o.slots,
      pollMs: o.timeout,
      pingMs: o.timeout,
      roots: (o.roots || []).map(String),
      jobs: o.jobs,
      verboseEvents: verbose
    }
    this.native = new binding.NativeWorker(JSON.stringify(config), (batch) => this._onEvents(batch))
    // job/success events cost a crossing each: send them only while someone listens.
    this._verbose = verbose
    this._onListeners = () => {
      const want = ['job', 'success'].some((e) => emitter.listenerCount(e) > 0)
      if (want !== this._verbose) {
        this._verbose = want
        this.native.setVerbose(want)
      }
    }
    emitter.on('newListener', (event) => { if (event === 'job' || event === 'success') process.nextTick(this._onListeners) })
    emitter.on('removeListener', (event) => { if (event === 'job' || event === 'success') process.nextTick(this._onListeners) })
  }

  start () {
    this._liveSlots = this.slots.length
    this.ended = new Promise((resolve) => { this._endResolve = resolve })
    this.native.setActive(true)
    this.native.start()
  }

  /** Stops claiming; resolves when every slot has finished its job and unregistered. */
  end () {
    if (!this.ended) return Promise.resolve()
    this.native.stop()
    return this.ended
  }

  _onEvents (json) {
    const events = JSON.parse(json)
    const em = this.emitter
    for (const e of events) {
      switch (e.type) {
        case 'job':
          em.emit('job', e.queue, parse(e.payload))
          break
        case 'success':
          em.emit('success', e.queue, parse(e.payload), e.result, e.duration)
          break
        case 'failure':
          em.emit('failure', e.queue, parse(e.payload), new RusqueError(e.code, e.message), e.duration)
          break
        case 'error':
          if (em.listenerCount('error') > 0) em.emit('error', new Error(e.message), undefined, undefined)
          break
        case 'pause':
          em.emit('pause')
          break
        case 'end':
          if (--this._liveSlots === 0) {
            this.native.setActive(false)
            this._endResolve()
          }
          break
        default:
          break
      }
    }
  }
}

function parse (payload) {
  try {
    return JSON.parse(payload)
  } catch {
    return payload
  }
}

module.exports = { NativeLoop, redisUrl }
