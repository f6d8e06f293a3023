'use strict'

// Survivors repair what a dead worker left: a registered worker whose ping is
// older than `staleAfter` is unregistered, and the job in its working-on key
// is pushed back to the front of its queue ('requeue') or into the failed list
// ('fail') with a reason. Each take-over is one Lua call that first checks the
// ping and working-on values are still the ones we read, so two survivors (or
// a survivor and node-resque's Scheduler) never both act on one job.
//
// Only the ping's `time` counts: a rusque worker pings from a Rust thread
// (alive.js), so one whose JS thread is busy with a long job stays fresh, and
// only a process that is gone goes stale. Its `rusque.lag` is for people and
// tools; a worker that still pings is alive, whatever its lag.

const os = require('os')
const { workerKeys } = require('./keys')
const { failureRecord } = require('./failure')
const { invalidArg } = require('../errors')
const binding = require('../load').load()

const DEFAULTS = { staleAfter: 60000, action: 'requeue' }

function normalizeRecovery (option, timeout) {
  if (option === false) return null
  const o = Object.assign({}, DEFAULTS, option || {})
  if (o.action !== 'requeue' && o.action !== 'fail') {
    throw invalidArg(`recovery.action must be 'requeue' or 'fail', got ${JSON.stringify(o.action)}`)
  }
  if (!(o.staleAfter > 0)) throw invalidArg('recovery.staleAfter must be a positive number of milliseconds')
  o.interval = o.interval ?? Math.max(1000, Math.min(timeout, o.staleAfter / 2))
  return o
}

class Recovery {
  constructor (worker, options) {
    this.worker = worker
    this.options = options
    this.timer = null
    this.running = null
    this.stopped = false
  }

  start () {
    const tick = () => {
      if (this.stopped) return
      this.running = this.check().catch((err) => this.worker._error(err)).finally(() => {
        this.running = null
        if (!this.stopped) this.timer = setTimeout(tick, this.options.interval)
      })
    }
    this.timer = setTimeout(tick, Math.min(this.options.interval, 250))
  }

  stop () {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  idle () {
    return this.running || Promise.resolve()
  }

  /** One pass: finds stale registered workers and takes over their jobs. Returns what it did. */
  async check () {
    const { redis, key, upSince } = this.worker.connection
    // Right after we (re)connect, other workers may not have had the chance
    // to ping yet: give them one staleAfter before judging them.
    if (upSince === null || Date.now() - upSince < this.options.staleAfter) return []
    const entries = await redis.smembers(key('workers'))
    if (entries.length === 0) return []
    const own = new Set(this.worker.slots.map((s) => s.keys.entry))

    // An entry is "name:queues", and names hold colons (host:pid); the ping
    // payload says which split is right.
    const candidates = []
    for (const entry of entries) {
      if (own.has(entry)) continue
      for (let i = entry.indexOf(':'); i !== -1; i = entry.indexOf(':', i + 1)) {
        candidates.push({ entry, name: entry.slice(0, i), queues: entry.slice(i + 1) })
      }
      candidates.push({ entry, name: entry, queues: '' })
    }
    if (candidates.length === 0) return []
    const pings = await redis.mget(candidates.map((c) => key('worker', 'ping', c.name)))
    const nowMs = Date.now()
    const done = []
    for (let i = 0; i < candidates.length; i++) {
      const raw = pings[i]
      if (!raw) continue
      let ping
      try { ping = JSON.parse(raw) } catch { continue }
      const c = candidates[i]
      if (!ping || ping.name !== c.name || String(ping.queues ?? '') !== c.queues) continue
      const age = nowMs - Number(ping.time) * 1000
      if (!(age > this.options.staleAfter)) continue
      const result = await this.take(c, raw, age)
      if (result) done.push(result)
    }
    return done
  }

  async take ({ entry, name, queues }, pingRaw, age) {
    const { redis, key } = this.worker.connection
    const k = workerKeys(key, name, queues)
    const workingOn = await redis.get(k.workingOn)
    let action = this.options.action
    let target = key('failed')
    let item = ''
    let job = null
    let queue = null
    if (workingOn) {
      let parsed = null
      try { parsed = JSON.parse(workingOn) } catch {}
      job = parsed && parsed.payload
      queue = parsed && parsed.queue
      const requeueable = job !== null && typeof job === 'object' && typeof job.class === 'string' && typeof queue === 'string'
      if (action === 'requeue' && requeueable) {
        target = key('queue', queue)
        item = JSON.stringify(job)
      } else {
        action = 'fail'
        const message = `Worker Timeout: worker ${name} stopped pinging ${Math.round(age / 1000)}s ago while working this job (recovered by ${this.worker.name})`
        // The backtrace node-resque's forceCleanWorker writes (its Queue looks
        // for 'queue#forceCleanWorker' there).
        const backtrace = [`killed by ${os.hostname()} at ${new Date()}`, 'queue#forceCleanWorker', 'rusque']
        item = failureRecord(name, queue, job || {}, 'Worker Timeout', message, backtrace)
      }
    }
    const took = await redis.rusqueRecover(
      k.ping, key('workers'), k.workingOn, k.started, k.failed, k.processed, target, key('stat', 'failed'),
      pingRaw, workingOn || '', entry, action, item)
    if (took !== 1) return null
    if (workingOn && action === 'requeue') {
      // Idle workers serving remote calls on that queue claim it now, not at their next poll.
      redis.publish(binding.remoteWakeChannel(key(), queue), '').catch(() => {})
    }
    const info = { worker: name, queues, action: workingOn ? action : 'unregister', queue, job, age }
    this.worker._emitSafe('recover', info)
    return info
  }
}

module.exports = { Recovery, normalizeRecovery }
