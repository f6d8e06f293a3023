'use strict'

// Where Rust threads connect to: the Rust loop's slots (native-loop.js) and
// the JS loop's ping thread (alive.js) open their own Redis connections
// (redis-rs, blocking) from a redis:// URL built here from the options the
// Worker's ioredis client was made with.

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

/**
 * The URL a Rust thread reaches the same server and database as `client`
 * (a connected ioredis client) by, and the key prefix it must add (ioredis'
 * keyPrefix); or `{ unsupported }`, saying why the client's options cannot
 * be mapped (a Cluster, Sentinel, TLS or a Unix socket).
 */
function nativeTarget (client) {
  const o = (client && client.options) || {}
  if (client && client.isCluster) return { unsupported: 'a Redis Cluster client' }
  if (o.sentinels) return { unsupported: 'a Sentinel client' }
  if (o.tls) return { unsupported: 'a TLS connection' }
  if (o.path) return { unsupported: 'a Unix socket connection' }
  return { url: redisUrl(connectionTarget({ redis: client })), keyPrefix: o.keyPrefix || '' }
}

module.exports = { redisUrl, connectionTarget, nativeTarget }
