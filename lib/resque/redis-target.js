'use strict'

// Where Rust threads connect to: the Rust loop's slots (native-loop.js) and
// the JS loop's ping thread (alive.js) open their own Redis connections
// (redis-rs, blocking). Both take their target from nativeTarget(), from the
// Worker's connected ioredis client: its options are what that client really
// uses (node-resque's top-level host/port/database/password merged with the
// nested ioredis `options`, or whatever a client passed as `{ redis }` was
// made with), so a Rust thread reaches the same server, database, user and
// key prefix as the JS side of the same Worker.

function redisUrl (o) {
  const auth = o.password ? `${encodeURIComponent(o.username || '')}:${encodeURIComponent(o.password)}@` : ''
  const host = o.host && o.host.includes(':') ? `[${o.host}]` : (o.host || '127.0.0.1')
  return `redis://${auth}${host}:${o.port || 6379}/${o.db || 0}`
}

/**
 * The URL a Rust thread reaches the same server and database as `client`
 * (a connected ioredis client) by, and the key prefix it must add (ioredis'
 * keyPrefix, put before every key verbatim); or `{ unsupported }`, saying
 * why the client's options cannot be mapped (a Cluster, Sentinel, TLS or a
 * Unix socket: redis-rs is built here without TLS, and none of the others
 * is the same connection as a redis:// URL).
 */
function nativeTarget (client) {
  const o = (client && client.options) || {}
  if (client && client.isCluster) return { unsupported: 'a Redis Cluster client' }
  if (o.sentinels) return { unsupported: 'a Sentinel client' }
  if (o.tls) return { unsupported: 'a TLS connection' }
  if (o.path) return { unsupported: 'a Unix socket connection' }
  return { url: redisUrl(o), keyPrefix: o.keyPrefix || '' }
}

module.exports = { nativeTarget }
