'use strict'

const { EventEmitter } = require('events')
const { keyMaker } = require('./keys')
const scripts = require('./scripts')

// Accepts node-resque's connection shapes:
//   { host, port, database, password, namespace = 'resque', options }
//   { redis: <ioredis client>, namespace }
// A client passed in is shared: we never close it.

class Connection extends EventEmitter {
  constructor (options = {}) {
    super()
    const o = Object.assign({}, options)
    o.host = o.host ?? '127.0.0.1'
    o.port = o.port ?? 6379
    o.database = o.database ?? 0
    o.namespace = o.namespace ?? 'resque'
    o.scanCount = o.scanCount ?? 100
    o.options = o.options ?? {}
    this.options = o
    this.connected = false
    this.redis = null
    this.key = keyMaker(o.namespace)
    this._owned = !o.redis
    this._listeners = null
  }

  async connect () {
    if (this.redis !== null) return
    if (this.options.redis) {
      this.redis = this.options.redis
    } else {
      const o = this.options
      const clientOptions = Object.assign({ host: o.host, port: o.port, db: o.database }, o.options)
      if (o.password) clientOptions.password = o.password
      clientOptions.lazyConnect = true
      // Loaded here, not at the top: require('rusque') for resize() alone
      // should not pay for a Redis client.
      const Redis = require('ioredis')
      this.redis = new Redis(clientOptions)
    }
    // upSince: when the link to Redis last came up (null while it is down).
    // Recovery waits a while after it, so workers that could not ping during
    // an outage are not taken for dead the moment Redis returns.
    this.upSince = null
    this._listeners = {
      error: (err) => this.emit('error', err),
      end: () => { this.connected = false; this.upSince = null },
      close: () => { this.upSince = null },
      ready: () => { this.connected = true; this.upSince = Date.now() }
    }
    for (const [name, fn] of Object.entries(this._listeners)) this.redis.on(name, fn)

    if (this._owned) {
      try {
        await this.redis.connect()
      } catch (err) {
        // A failed first connect would otherwise keep retrying in the background forever.
        this.redis.disconnect()
        this.end()
        throw err
      }
    }
    scripts.define(this.redis)
    const probe = this.key('connection_test_key')
    await this.redis.set(probe, 'ok')
    if ((await this.redis.get(probe)) !== 'ok') throw new Error('cannot read the connection test key back from Redis')
    this.connected = true
    if (this.upSince === null) this.upSince = Date.now()
  }

  /** SCAN for keys matching a pattern, honouring an ioredis keyPrefix. */
  async getKeys (match, count = this.options.scanCount) {
    const prefix = (this.redis.options && this.redis.options.keyPrefix) || ''
    const found = []
    let cursor = '0'
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', prefix + match, 'COUNT', count)
      for (const k of keys) found.push(prefix && k.startsWith(prefix) ? k.slice(prefix.length) : k)
      cursor = next
    } while (cursor !== '0')
    return found
  }

  end () {
    if (this.redis === null) return
    if (this._listeners) {
      for (const [name, fn] of Object.entries(this._listeners)) this.redis.off(name, fn)
      this._listeners = null
    }
    if (this._owned) this.redis.disconnect()
    this.connected = false
  }
}

module.exports = { Connection }
