'use strict'

// rusque.remote(): the same resize(), metadata() and hash() as the local
// functions, run by a fleet of Workers (remoteJobs()) through Redis. A call
// checks its arguments here exactly as the local call does (the same
// prepare(), the same spec), puts its input bytes in a Redis key with a TTL
// and a node-resque entry on the queue, then waits for its
// reply. Every call of one remote() shares one reply list, popped by one
// blocking BLPOP on a connection of its own, so waiting costs the event loop
// nothing and no call polls. The entry, the keys and the reply's bytes are
// defined once, in Rust (crates/resque/src/remote.rs, through the binding),
// and a reply becomes the same JS value a local call resolves to by the
// same conversion (src/remote.rs). Giving a call up (timeout, abort, close)
// is one script (lua/call-cancel.lua) that leaves no key behind.

const crypto = require('node:crypto')
const { performance } = require('node:perf_hooks')
const binding = require('./load').load()
const pool = require('./pool')
const opts = require('./args')
const debug = require('./debug')
const { redisError } = require('./resque/native-job')
const { RusqueError, makeError, invalidArg, abortError, fromNative, codes } = require('./errors')

const INFO = binding.remoteInfo()

/** Default per-call timeout (ms). */
const DEFAULT_TIMEOUT = 30000
/** Seconds one blocking pop waits before it is sent again (a reply wakes it at once). */
const WAIT_SECONDS = 2
/** How much longer than its call an input key lives (ms): it only matters if the caller dies. */
const INPUT_GRACE_MS = 5000
/** The longest the JS thread sends calls in one go (ms): see _pump(). */
const SEND_SLICE_MS = 2

/** The longest timeout (ms, about 24.8 days): Node runs a longer setTimeout after 1 ms. */
const MAX_TIMEOUT = 2147483647

function checkTimeout (timeout, name) {
  if (timeout === undefined) return undefined
  if (typeof timeout !== 'number' || !(timeout > 0) || !(timeout <= MAX_TIMEOUT)) {
    throw invalidArg(`${name} must be a positive number of milliseconds, at most ${MAX_TIMEOUT}, got ${opts.describe(timeout)}`)
  }
  return timeout
}

function checkMaxInputBytes (n) {
  if (n === undefined) return INFO.maxInputBytes
  if (!Number.isSafeInteger(n) || n < 1 || n > INFO.maxInputBytes) {
    throw invalidArg(`maxInputBytes must be a positive integer of bytes, at most ${INFO.maxInputBytes} (what a worker reads for a call), got ${opts.describe(n)}`)
  }
  return n
}

/** A call's options without its `timeout` (remote only), and that timeout. */
function splitTimeout (options) {
  if (options === null || typeof options !== 'object' || !Object.hasOwn(options, 'timeout')) return { options, timeout: undefined }
  const { timeout, ...rest } = options
  return { options: rest, timeout: checkTimeout(timeout, 'timeout') }
}

/** The task options as the entry carries them (JSON), overlays' bytes in `buffers`. */
function wireOptions (task, job, options, buffers) {
  if (task === 'resize') return opts.readArg('options', () => opts.optionsJson(options, buffers))
  if (task === 'hash') return job.arg === undefined ? '{}' : opts.toJson({ algorithm: job.arg })
  return '{}'
}

class Remote {
  /**
   * @param {object} [options]
   * @param {object} [options.connection] node-resque's connection options, or `{ redis }` (an ioredis client, shared: not closed)
   * @param {string} [options.queue] the queue the calls go to (default 'rusque')
   * @param {number} [options.timeout] ms a call waits for its reply (default 30000)
   * @param {number} [options.maxInputBytes] the largest input sent (default and ceiling: what a worker reads, 256 MiB)
   * @param {boolean} [options.spill] run a call on this process's pool while it has a free thread, and send it only when it has none
   */
  constructor (options = {}) {
    if (options === null || typeof options !== 'object') throw invalidArg(`remote() takes an object of options, got ${opts.describe(options)}`)
    const { connection = {}, queue = 'rusque', timeout, maxInputBytes, spill = false } = options
    if (typeof spill !== 'boolean') throw invalidArg(`spill must be true or false, got ${opts.describe(spill)}`)
    this.spill = spill
    if (typeof queue !== 'string' || queue.trim() === '') throw invalidArg(`queue must be a non-empty string, got ${opts.describe(queue)}`)
    if (connection === null || typeof connection !== 'object') throw invalidArg(`connection must be node-resque's connection options or { redis }, got ${opts.describe(connection)}`)
    this.queue = queue
    this.timeout = checkTimeout(timeout, 'timeout') ?? DEFAULT_TIMEOUT
    this.maxInputBytes = checkMaxInputBytes(maxInputBytes)
    // This caller's id: its reply list's name.
    this.id = crypto.randomBytes(9).toString('base64url')
    const { Connection } = require('./resque/connection')
    this.connection = new Connection(connection)
    // ioredis reconnects by itself; a waiting call learns of a lost link from the reply connection (_lost).
    this.connection.on('error', (err) => debug('remote %s: %s', this.id, err && err.message))
    this._blocking = null
    this._connecting = null
    this._calls = new Map()
    this._waiting = false
    this._outbox = []
    this._pumpScheduled = false
    this._sliceStart = null
    this._replyKey = null
    this._closed = false
    this._closing = null
  }

  /** Resizes on the fleet: resize()'s arguments (and `timeout`), its result. */
  resize (input, options) {
    return this._call('resize', input, options)
  }

  /** metadata() on the fleet. */
  metadata (input, options) {
    return this._call('metadata', input, options)
  }

  /** hash() on the fleet: an algorithm's name, or { algorithm, signal, timeout }. */
  hash (input, algorithm) {
    return this._call('hash', input, algorithm)
  }

  /**
   * Gives up the calls still waiting (they reject with ERR_NOT_CONNECTED and
   * leave nothing in Redis) and closes the connections this remote opened.
   */
  close () {
    if (this._closing === null) this._closing = this._close()
    return this._closing
  }

  async _close () {
    this._closed = true
    const gone = []
    for (const call of [...this._calls.values()]) {
      gone.push(this._giveUp(call, new RusqueError(codes.ERR_NOT_CONNECTED, 'remote.close() was called while this call waited for its reply')))
    }
    await Promise.allSettled(gone)
    if (this._connecting !== null) await this._connecting.catch(() => {})
    if (this._blocking !== null) this._blocking.disconnect()
    this.connection.end()
  }

  /** Connects both clients once: the command one, and the blocking one for replies. */
  _connect () {
    if (this._connecting === null) {
      this._connecting = (async () => {
        const given = this.connection.options.redis
        if (given && given.isCluster) {
          // A call's keys (lua/call-cancel.lua, the worker's answer in
          // lua/step-rust.lua) lie in different hash slots: CROSSSLOT.
          throw invalidArg('remote() cannot use a Redis Cluster client: a call\'s keys lie in different hash slots; give it a client of one Redis server')
        }
        await this.connection.connect()
        const prefix = this.connection.redis.options && this.connection.redis.options.keyPrefix
        if (prefix) {
          // The Rust loop that answers calls does not add one (native-loop.js loopTarget).
          throw invalidArg(`remote() cannot use an ioredis client with a keyPrefix (${JSON.stringify(prefix)}): the workers that answer calls would not see its keys; use a namespace instead`)
        }
        const blocking = this.connection.redis.duplicate({ lazyConnect: true })
        blocking.on('error', (err) => debug('remote %s: reply connection: %s', this.id, err && err.message))
        // A lost connection fails the calls waiting on it now, rather than at their timeouts.
        blocking.on('close', () => this._lost())
        try {
          await blocking.connect()
        } catch (err) {
          // ioredis would retry it forever, and nothing else holds it to close.
          blocking.disconnect()
          throw new RusqueError(codes.ERR_REDIS_UNREACHABLE, `could not open remote()'s connection for replies: ${err && err.message}`, { cause: err })
        }
        this._blocking = blocking
      })()
      this._connecting.catch(() => { this._connecting = null })
    }
    return this._connecting
  }

  _call (task, input, options) {
    return new Promise((resolve, reject) => {
      let call
      try {
        if (this._closed) throw new RusqueError(codes.ERR_NOT_CONNECTED, 'this remote was closed: make a new one with rusque.remote()')
        const split = splitTimeout(options)
        if (this.spill && pool.hasRoom()) {
          // A free thread here: the local call, which resolves alike.
          resolve(pool.call(task, input, split.options))
          return
        }
        const job = pool.prepare(task, input, split.options)
        if (job.bytes.byteLength > this.maxInputBytes) {
          throw new RusqueError(codes.ERR_LIMIT_EXCEEDED, `input holds ${job.bytes.byteLength} bytes, over this remote's maxInputBytes (${this.maxInputBytes}); raise maxInputBytes in remote() if such inputs are expected`)
        }
        if (job.signal && job.signal.aborted) throw abortError(job.signal)
        const buffers = []
        const optionsJson = wireOptions(task, job, split.options, buffers)
        const id = crypto.randomBytes(12).toString('base64url')
        const timeout = split.timeout ?? this.timeout
        const key = this.connection.key
        let keys
        try {
          // The entry, the keys, and a copy of the input made now, before
          // the call returns, as a local call copies its input.
          keys = binding.remoteCall({ task, optionsJson, namespace: key(), queue: this.queue, call: id, caller: this.id, ttl: Math.ceil(timeout / 1000) + 1 }, job.bytes, buffers)
        } catch (err) {
          throw fromNative(err)
        }
        call = { id, task, signal: job.signal, keys, queueKey: key('queue', this.queue), timeout, sent: false, resolve, reject }
      } catch (err) {
        reject(err)
        return
      }
      this._send(call)
    })
  }

  async _send (call) {
    const signal = call.signal
    call.timer = setTimeout(() => this._giveUp(call, new RusqueError(codes.ERR_TIMEOUT, `no worker answered this remote ${call.task} within ${call.timeout} ms (queue ${JSON.stringify(this.queue)}); start Workers with remoteJobs(), or raise timeout`)), call.timeout)
    if (signal) {
      call.onAbort = () => this._giveUp(call, abortError(signal))
      signal.addEventListener('abort', call.onAbort, { once: true })
    }
    this._calls.set(call.id, call)
    try {
      await this._connect()
    } catch (err) {
      this._settle(call, err)
      return
    }
    this._outbox.push(call)
    if (!this._pumpScheduled) this._pump()
  }

  /**
   * Sends queued calls for up to SEND_SLICE_MS, then lets the event loop
   * run before the next slice: ioredis copies each input while it writes,
   * and a burst of large calls sent in one go would hold the loop for tens
   * of ms.
   */
  _pump () {
    if (this._sliceStart === null) {
      this._sliceStart = performance.now()
      setImmediate(() => { this._sliceStart = null })
    }
    while (this._outbox.length > 0) {
      if (performance.now() - this._sliceStart > SEND_SLICE_MS) {
        this._pumpScheduled = true
        setImmediate(() => {
          this._pumpScheduled = false
          this._pump()
        })
        return
      }
      this._transmit(this._outbox.shift())
    }
  }

  async _transmit (call) {
    if (!this._calls.has(call.id)) return // given up while it waited to be sent
    try {
      const bytes = call.keys.bytes
      call.keys.bytes = null
      call.sent = true
      this._replyKey = call.keys.reply
      this._wait()
      // Four commands in order on one connection, not a MULTI: ioredis's
      // MULTI copies a large input several times more on the JS thread.
      // If the SET fails, the entry's worker finds no input and does not
      // answer, and the caller cleans up (lua/call-cancel.lua).
      const redis = this.connection.redis
      await Promise.all([
        redis.set(call.keys.input, bytes, 'PX', call.timeout + INPUT_GRACE_MS),
        redis.sadd(this.connection.key('queues'), this.queue),
        redis.rpush(call.queueKey, call.keys.entry),
        redis.publish(call.keys.wake, '') // idle workers claim it now, not at their next poll
      ])
    } catch (err) {
      // A refusal (maxmemory, an ACL, a key of another type) is ERR_REDIS_REJECTED, no answer ERR_REDIS_UNREACHABLE.
      this._settle(call, err instanceof RusqueError ? err : redisError(err, `could not send the remote ${call.task}`))
      if (call.sent) this._cleanUp(call)
    }
  }

  /** Pops replies while calls wait: one blocking pop at a time on the reply connection. */
  async _wait () {
    if (this._waiting) return
    this._waiting = true
    try {
      while (this._calls.size > 0 && !this._closed) {
        let popped
        try {
          popped = await this._blocking.blpopBuffer(this._replyKey, WAIT_SECONDS)
        } catch (err) {
          if (!this._closed) debug('remote %s: BLPOP failed: %s', this.id, err && err.message)
          break
        }
        if (popped) this._deliver(popped[1])
      }
    } finally {
      this._waiting = false
    }
  }

  _deliver (bytes) {
    let id, code, value
    try {
      [id, code, value] = binding.remoteReply(bytes)
    } catch (err) {
      pool.reportError(fromNative(err))
      return
    }
    const call = this._calls.get(id)
    if (call === undefined) return // given up meanwhile
    this._settle(call, code === null ? null : makeError(code, value), value)
  }

  /** Settles a call once and forgets it. */
  _settle (call, err, value) {
    if (!this._calls.has(call.id)) return false
    this._calls.delete(call.id)
    clearTimeout(call.timer)
    if (call.onAbort) call.signal.removeEventListener('abort', call.onAbort)
    if (err) call.reject(err)
    else call.resolve(value)
    return true
  }

  /** Rejects a call with `err` and removes what it left in Redis. */
  async _giveUp (call, err) {
    if (!this._settle(call, err)) return
    if (call.sent) await this._cleanUp(call)
  }

  async _cleanUp (call) {
    try {
      await this.connection.redis.rusqueCallCancel(call.queueKey, call.keys.input, call.keys.reply, call.keys.entry, call.keys.prefix)
    } catch (err) {
      // Redis is away: the input key expires by itself, the reply list too.
      debug('remote %s: could not clean up call %s: %s', this.id, call.id, err && err.message)
    }
  }

  /** The reply connection closed: every waiting call fails now. */
  _lost () {
    if (this._closed || this._calls.size === 0) return
    for (const call of [...this._calls.values()]) {
      if (!call.sent) continue // not sent yet: its send fails or waits on its own
      this._giveUp(call, new RusqueError(codes.ERR_REDIS_UNREACHABLE, `the connection to Redis closed while this remote ${call.task} waited for its reply`))
    }
  }
}

/** A caller of the fleet: `{ resize, metadata, hash, close }`. */
function remote (options) {
  return new Remote(options)
}

module.exports = { remote, Remote }
