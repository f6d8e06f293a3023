'use strict'

// The JS loop's liveness, proven from a Rust thread (src/alive.rs,
// crates/resque/src/alive.rs). Survivors take a worker whose ping is stale for
// dead and run its job again; a JS job that keeps this thread busy for
// seconds would stop pings sent from here. So a Rust thread of this process
// pings for every slot, on its own connection, and records this thread's lag
// beside each ping (`rusque: { lag }`, ms): this thread checks in every
// CHECK_IN_MS, and the lag is how far that check-in is overdue. A busy JS
// thread is then "alive, lag 7000 ms"; only a process that is gone stops pinging.
//
// When the client's options cannot be given to a Rust thread (Cluster,
// Sentinel, TLS, Unix socket) or its connection fails, the JS thread pings as
// before (worker.js `_ping`).

const binding = require('../load').load()
const debug = require('../debug')
const { nativeTarget } = require('./redis-target')
const { RusqueError, codes } = require('../errors')

// Often enough that the lag is read to a tenth of a second; one atomic store per call.
const CHECK_IN_MS = 100

class Alive {
  /**
   * Starts pinging for `worker`'s slots from a Rust thread, once it has
   * checked that it reaches the worker's Redis (it must find `expect`, the
   * value the worker's own first ping left in the first slot's ping key).
   * `ready` resolves true when the Rust thread pings, false when the JS
   * thread must (the reason is debug output, or an 'error' event if the
   * connection was expected to work).
   */
  constructor (worker, expect) {
    this.worker = worker
    this.native = null
    this.timer = null
    this.pings = 0 // the Rust thread's pings reported as `ping` events so far
    this.stopping = false
    this.ready = this._start(expect)
  }

  async _start (expect) {
    const w = this.worker
    const target = nativeTarget(w.connection.redis)
    if (target.unsupported) {
      debug('worker %s: pings come from the JS thread: %s is not available to Rust threads', w.name, target.unsupported)
      return false
    }
    const fallBack = (code, message) => {
      w._error(new RusqueError(codes[code] || codes.ERR_INTERNAL, `${message}; the worker pings from its JS thread instead, so a job that blocks it may be taken for a dead worker's`))
      return false
    }
    let native
    try {
      native = new binding.Heartbeat({
        url: target.url,
        nodes: target.nodes,
        namespace: w.connection.key(),
        keyPrefix: target.keyPrefix,
        slots: w.slots.map((s) => s.name),
        queues: w.registeredQueues,
        everyMs: w.options.timeout,
        checkInMs: CHECK_IN_MS,
        expect
      })
    } catch (err) {
      return fallBack(err.code, err.message) // a timeout that is not a number of ms
    }
    const failed = await native.start()
    if (failed) return fallBack(failed.code, failed.message)
    if (this.stopping) {
      await native.stop()
      return false
    }
    this.native = native
    native.touch()
    this.timer = setInterval(() => native.touch(), CHECK_IN_MS)
    this.timer.unref()
    debug('worker %s: pings come from a Rust thread', w.name)
    return true
  }

  /** True while the Rust thread pings (the worker's JS pings stay off). */
  get active () {
    return this.native !== null
  }

  /**
   * Called on the worker's ping timer: emits `ping` for a ping the Rust thread
   * wrote since the last call, and `error` for its last failure.
   */
  report () {
    if (this.native === null) return
    const news = this.native.news()
    if (news.error) this.worker._error(new RusqueError(codes[news.error.code] || codes.ERR_INTERNAL, news.error.message))
    if (news.pings > this.pings) {
      this.pings = news.pings
      this.worker._emitSafe('ping', news.pinged)
    }
  }

  /** Stops the Rust thread; resolves once none of its pings can land any more. */
  async stop () {
    this.stopping = true
    await this.ready
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null }
    const native = this.native
    this.native = null
    if (native !== null) await native.stop()
  }
}

module.exports = { Alive, CHECK_IN_MS }
