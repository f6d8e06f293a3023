'use strict'

const { EventEmitter } = require('events')
const { keyMaker } = require('./keys')
const scripts = require('./scripts')
const { RusqueError, codes, fromNative } = require('../errors')
const binding = require('../load').load()

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
    this._connecting = null
    this.upSince = null
  }

  /**
   * Connects (one attempt, bounded by `options.connectTimeout`, default 10 s)
   * and checks that Redis reads and writes. On failure it rejects with a
   * RusqueError naming the address (ERR_REDIS_UNREACHABLE: nothing answered;
   * ERR_REDIS_REJECTED: Redis answered with an error, e.g. a wrong password),
   * leaves no client retrying in the background, and may be called again.
   */
  connect () {
    if (this._connecting === undefined || this._connecting === null) {
      this._connecting = this._connect().finally(() => { this._connecting = null })
    }
    return this._connecting
  }

  async _connect () {
    if (this.redis !== null) {
      // An owned client that gave up reconnecting ('end') is replaced; any
      // other client is already connected or reconnecting by itself.
      if (!this._owned || this.redis.status !== 'end') return
      this.end()
      this.redis = null
    }
    let client
    if (this.options.redis) {
      client = this.options.redis
    } else {
      const o = this.options
      const clientOptions = Object.assign({ host: o.host, port: o.port, db: o.database }, o.options)
      if (o.password) clientOptions.password = o.password
      clientOptions.lazyConnect = true
      // Loaded here, not at the top: require('rusque') for resize() alone
      // should not pay for a Redis client.
      const Redis = require('ioredis')
      client = new Redis(clientOptions)
    }
    if (client.isCluster) this._checkClusterNamespace(client)
    await this._check(client)
    this.redis = client
    // upSince: when the link to Redis last came up (null while it is down).
    // Recovery waits a while after it, so workers that could not ping during
    // an outage are not taken for dead the moment Redis returns.
    this._listeners = {
      error: (err) => this.emit('error', err),
      end: () => { this.connected = false; this.upSince = null },
      close: () => { this.upSince = null },
      ready: () => { this.connected = true; this.upSince = Date.now() }
    }
    for (const [name, fn] of Object.entries(this._listeners)) client.on(name, fn)
    this.connected = true
    this.upSince = Date.now()
  }

  /**
   * On a Redis Cluster every key of the queue must be in one slot (the
   * scripts touch several at once): the namespace must carry a hash tag,
   * e.g. '{resque}'. Without one, ERR_INVALID_ARG here, rather than scripts
   * failing (or an all-native worker claiming nothing) later.
   */
  _checkClusterNamespace (client) {
    const keyPrefix = (client.options && client.options.keyPrefix) || ''
    try {
      binding.clusterTag(keyPrefix, this.key())
    } catch (err) {
      throw fromNative(err)
    }
  }

  /** First contact: connect an owned client, then write and read a key, all within the deadline. */
  async _check (client) {
    let lastError = null
    const onError = (err) => { lastError = err }
    client.on('error', onError)
    const limit = connectDeadline(client)
    let timer = null
    const attempt = (async () => {
      if (this._owned) await client.connect()
      scripts.define(client)
      const probe = this.key('connection_test_key')
      await client.set(probe, 'ok')
      if ((await client.get(probe)) !== 'ok') throw new Error('cannot read the connection test key back from Redis')
    })()
    attempt.catch(() => {}) // it may settle after the deadline; its outcome is then moot
    const deadline = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${limit} ms`)), limit)
    })
    try {
      await Promise.race([attempt, deadline])
    } catch (err) {
      // An owned client would otherwise keep retrying in the background forever;
      // a shared one is its owner's to close.
      if (this._owned) client.disconnect()
      throw connectError(client, err, lastError)
    } finally {
      clearTimeout(timer)
      client.off('error', onError)
    }
  }

  /**
   * SCAN for keys matching a pattern, honouring an ioredis keyPrefix. On a
   * Redis Cluster every primary is scanned (a SCAN sent through the cluster
   * client reaches one node of several).
   */
  async getKeys (match, count = this.options.scanCount) {
    const prefix = (this.redis.options && this.redis.options.keyPrefix) || ''
    const nodes = this.redis.isCluster ? this.redis.nodes('master') : [this.redis]
    const found = []
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', prefix + match, 'COUNT', count)
        for (const k of keys) found.push(prefix && k.startsWith(prefix) ? k.slice(prefix.length) : k)
        cursor = next
      } while (cursor !== '0')
    }
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

function connectDeadline (client) {
  const t = client.options && client.options.connectTimeout
  return Number.isFinite(t) && t > 0 ? t : 10000
}

function address (client) {
  const c = client.options || {}
  if (c.path) return c.path
  const host = c.host || '127.0.0.1'
  return `${host.includes(':') ? `[${host}]` : host}:${c.port || 6379}`
}

// ioredis rejects connect() with "Connection is closed." and reports the real
// cause (ECONNREFUSED, ETIMEDOUT, ...) as an 'error' event: use the latter.
function connectError (client, err, lastError) {
  const where = address(client)
  const reply = [err, lastError].find((e) => e && e.name === 'ReplyError')
  if (reply) {
    return new RusqueError(codes.ERR_REDIS_REJECTED, `Redis at ${where} refused the connection check: ${reply.message}`, { cause: reply })
  }
  const cause = lastError || err
  return new RusqueError(codes.ERR_REDIS_UNREACHABLE, `cannot reach Redis at ${where}: ${cause && cause.message}`, { cause })
}

module.exports = { Connection }
