'use strict'

// The enqueue side of the resque layout, as much as plugins need through
// `worker.queueObject` (Retry and JobLock re-enqueue with enqueueIn,
// DelayQueueLock asks scheduledAt). Producers keep using node-resque's Queue.

const { EventEmitter } = require('events')
const { runPlugins } = require('./plugins')

class Producer extends EventEmitter {
  constructor (connection, jobs = {}) {
    super()
    this.connection = connection
    this.jobs = jobs
  }

  encode (q, func, args = []) {
    return JSON.stringify({ class: func, queue: q, args })
  }

  async enqueue (q, func, args = []) {
    args = Array.isArray(args) ? args : [args]
    const definition = this.jobs[func]
    if ((await runPlugins(this, 'beforeEnqueue', func, q, definition, args)) === false) return false
    const { redis, key } = this.connection
    await exec(redis.multi().sadd(key('queues'), q).rpush(key('queue', q), this.encode(q, func, args)))
    await runPlugins(this, 'afterEnqueue', func, q, definition, args)
    return true
  }

  /** timestamp in ms; stored with one-second resolution, as resque-scheduler does. */
  async enqueueAt (timestamp, q, func, args = [], suppressDuplicateTaskError = false) {
    args = Array.isArray(args) ? args : [args]
    const item = this.encode(q, func, args)
    const seconds = Math.round(timestamp / 1000)
    const { redis, key } = this.connection
    const member = 'delayed:' + seconds
    if ((await redis.sismember(key('timestamps:' + item), member)) === 1) {
      if (suppressDuplicateTaskError) return
      throw new Error('Job already enqueued at this time with same arguments')
    }
    await exec(redis.multi()
      .rpush(key('delayed:' + seconds), item)
      .sadd(key('timestamps:' + item), member)
      .zadd(key('delayed_queue_schedule'), seconds, String(seconds)))
    return true
  }

  async enqueueIn (delay, q, func, args = [], suppressDuplicateTaskError = false) {
    return this.enqueueAt(Date.now() + parseInt(String(delay), 10), q, func, args, suppressDuplicateTaskError)
  }

  /** Seconds at which this exact job is scheduled. */
  async scheduledAt (q, func, args = []) {
    args = Array.isArray(args) ? args : [args]
    const members = await this.connection.redis.smembers(this.connection.key('timestamps:' + this.encode(q, func, args)))
    return members.map((m) => m.replace('delayed:', ''))
  }

  async length (q) {
    return this.connection.redis.llen(this.connection.key('queue', q))
  }

  async connect () {}
  async end () {}
}

async function exec (multi) {
  const replies = await multi.exec()
  if (replies) for (const [err] of replies) if (err) throw err
  return replies
}

module.exports = { Producer, exec }
