'use strict'

// Where Rust threads connect to: the Rust loop's slots (native-loop.js) and
// the JS loop's ping thread (alive.js) open their own Redis connections
// (redis-rs, blocking). Both take their target from nativeTarget(), from the
// Worker's connected ioredis client: its options are what that client really
// uses (node-resque's top-level host/port/database/password merged with the
// nested ioredis `options`, or whatever a client passed as `{ redis }` was
// made with), so a Rust thread reaches the same server, database, user and
// key prefix as the JS side of the same Worker; for an ioredis Cluster, the
// same cluster (its nodes, as redis-rs's cluster client takes them).

function redisUrl (o) {
  const auth = o.password ? `${encodeURIComponent(o.username || '')}:${encodeURIComponent(o.password)}@` : ''
  const host = o.host && o.host.includes(':') ? `[${o.host}]` : (o.host || '127.0.0.1')
  return `redis://${auth}${host}:${o.port || 6379}/${o.db || 0}`
}

/**
 * The URL a Rust thread reaches the same server and database as `client`
 * (a connected ioredis client) by, and the key prefix it must add (ioredis'
 * keyPrefix, put before every key verbatim). For an ioredis Cluster, `nodes`
 * too: one URL per node the client knows (its startup nodes before it has
 * connected), with the credentials of its `redisOptions`; the Rust side's
 * cluster client learns the rest of the topology from them. Or
 * `{ unsupported }`, saying why the client's options cannot be mapped
 * (Sentinel, TLS, a Unix socket, a Cluster's natMap: redis-rs is built here
 * without TLS, and none of the others is the same connection as redis:// URLs).
 */
function nativeTarget (client) {
  const o = (client && client.options) || {}
  if (client && client.isCluster) return clusterTarget(client)
  if (o.sentinels) return { unsupported: 'a Sentinel client' }
  if (o.tls) return { unsupported: 'a TLS connection' }
  if (o.path) return { unsupported: 'a Unix socket connection' }
  return { url: redisUrl(o), keyPrefix: o.keyPrefix || '' }
}

function clusterTarget (client) {
  const o = client.options || {}
  const auth = o.redisOptions || {}
  if (auth.tls) return { unsupported: 'a TLS connection' }
  if (o.natMap && Object.keys(o.natMap).length > 0) return { unsupported: "a Cluster client's natMap (the Rust threads would reach the nodes at the addresses they announce)" }
  const known = typeof client.nodes === 'function' ? client.nodes('all').map((n) => n.options) : []
  const hosts = known.length > 0 ? known : (client.startupNodes || []).map(startupNode)
  const nodes = [...new Set(hosts.map((h) => redisUrl({ host: h.host, port: h.port, username: auth.username, password: auth.password })))]
  if (nodes.length === 0) return { unsupported: 'a Cluster client without nodes' }
  return { url: nodes[0], nodes, keyPrefix: o.keyPrefix || '' }
}

/** One of ioredis' startup node shapes (a port, 'host:port', or { host, port }) as { host, port }. */
function startupNode (node) {
  if (typeof node === 'number') return { host: '127.0.0.1', port: node }
  if (typeof node === 'string') {
    const at = node.lastIndexOf(':')
    return at < 0 ? { host: node, port: 6379 } : { host: node.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(node.slice(at + 1)) }
  }
  return { host: node.host, port: node.port }
}

module.exports = { nativeTarget }
