'use strict'

// Starts a private redis-server for one test file: a free port, a temp dir,
// no persistence unless asked. Never the shared instance on 6379.
//
// A server must never outlive its test file, nor keep it running: the child
// process is unref'd (an open server does not hold the file's process) and
// killed when the process exits, also when the test runner stops the file
// for running past its timeout (SIGTERM). A server that fails to start is
// killed before start() rejects, so a failed `before` leaves nothing behind.

const { spawn } = require('child_process')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const Redis = require('ioredis')

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

// A server with requirepass answers PING with NOAUTH: it is up all the same.
async function waitReady (port, deadlineMs = 10000) {
  const until = Date.now() + deadlineMs
  for (;;) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1')
      sock.once('connect', () => {
        sock.write('PING\r\n')
        sock.once('data', (d) => { sock.destroy(); resolve(/^(\+PONG|-NOAUTH)/.test(String(d))) })
      })
      sock.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > until) throw new Error(`redis-server on port ${port} did not start`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const live = new Set()

function killLive () {
  for (const proc of live) proc.kill('SIGKILL')
  live.clear()
}

let hooked = false
function killOnExit () {
  if (hooked) return
  hooked = true
  process.on('exit', killLive)
  // The test runner sends SIGTERM to a file that ran past its timeout; the
  // default action would skip 'exit' and leave the servers running.
  process.once('SIGTERM', () => {
    killLive()
    process.exit(143)
  })
}

class RedisServer {
  /**
   * @param {{ requirepass?: string, args?: string[] }} [o] requirepass: clients must AUTH with this
   *   password (the default user's); args: more redis-server arguments (RedisCluster's).
   */
  constructor ({ requirepass, args } = {}) {
    this.requirepass = requirepass || null
    this.extraArgs = args || []
    this.port = 0
    this.dir = null
    this.proc = null
    this.clients = []
  }

  async start () {
    if (!this.dir) this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-redis-'))
    if (!this.port) this.port = await freePort()
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning']
    if (this.requirepass) args.push('--requirepass', this.requirepass, '--masterauth', this.requirepass)
    args.push(...this.extraArgs)
    killOnExit()
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] })
    this.proc = proc
    live.add(proc)
    proc.unref()
    let spawnError = null
    this.exited = new Promise((resolve) => {
      proc.once('exit', () => { live.delete(proc); resolve() })
      proc.once('error', (err) => { // no redis-server binary: no 'exit' follows
        spawnError = new Error(`cannot start redis-server (${err.message}): install it (apt-get install redis-server) or put it on PATH`)
        live.delete(proc)
        resolve()
      })
    })
    try {
      await Promise.race([waitReady(this.port), this.exited.then(() => {
        throw spawnError || new Error(`redis-server on port ${this.port} exited during start`)
      })])
    } catch (err) {
      await this.close()
      throw err
    }
    return this
  }

  /** Connection details in node-resque's shape (with the password, if the server requires one). */
  connection (namespace = 'resque') {
    const c = { host: '127.0.0.1', port: this.port, database: 0, namespace }
    if (this.requirepass) c.password = this.requirepass
    return c
  }

  /** A client of this server (db 0, or `db`), closed with the server. */
  client ({ db = 0 } = {}) {
    const c = new Redis({ host: '127.0.0.1', port: this.port, db, password: this.requirepass || undefined, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 50, 500) })
    c.on('error', () => {})
    this.clients.push(c)
    return c
  }

  /**
   * A proxy in front of this server that relays everything, except the first
   * request naming `marker`: it cuts the connection there, either without
   * relaying the request ('request': the command never runs) or after relaying
   * it, in place of its reply ('reply': the command ran, the client never
   * hears of it). Resolves to { port, armed, captured (the request cut), close() }.
   */
  async cuttingProxy (marker, mode) {
    const state = { armed: true, sockets: new Set() }
    const proxy = net.createServer((client) => {
      const upstream = net.connect(this.port, '127.0.0.1')
      for (const sock of [client, upstream]) {
        state.sockets.add(sock)
        sock.on('error', () => {})
        sock.on('close', () => { state.sockets.delete(sock); client.destroy(); upstream.destroy() })
      }
      let cut = false
      client.on('data', (d) => {
        if (state.armed && d.includes(marker)) {
          state.armed = false
          state.captured = d // to send again later, as a copy Redis runs late
          if (mode === 'request') return client.destroy()
          cut = true
        }
        upstream.write(d)
      })
      upstream.on('data', (d) => {
        if (cut) client.destroy()
        else client.write(d)
      })
    })
    await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    state.port = proxy.address().port
    state.close = async () => {
      for (const sock of state.sockets) sock.destroy()
      await new Promise((resolve) => proxy.close(resolve))
    }
    return state
  }

  /** Stops the server; with save, writes its data first so start() restores it. */
  async stop ({ save = false } = {}) {
    if (!this.proc) return
    const proc = this.proc
    this.proc = null
    proc.ref() // wait for its exit below even when nothing else keeps the process running
    if (save) {
      const c = new Redis({ host: '127.0.0.1', port: this.port, password: this.requirepass || undefined, lazyConnect: true, retryStrategy: () => null })
      c.on('error', () => {})
      await c.connect()
      await c.call('SHUTDOWN', 'SAVE').catch(() => {})
      c.disconnect()
    } else {
      proc.kill('SIGKILL')
    }
    await this.exited
  }

  /** Disconnects its clients, stops the server, removes its dir; safe to call twice or after a failed start. */
  async close () {
    for (const c of this.clients) c.disconnect()
    this.clients = []
    try {
      await this.stop()
    } finally {
      if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true })
      this.dir = null
    }
  }
}

/**
 * A Redis Cluster of private servers: `primaries` (at least 3, as
 * `redis-cli --cluster create` requires) each with `replicas` replicas, on
 * free ports in temp dirs, created with `redis-cli --cluster create` and
 * started when every node reports `cluster_state:ok`. A node timeout of 1 s
 * makes a killed primary's replica take over within a few seconds.
 */
class RedisCluster {
  constructor ({ primaries = 3, replicas = 0, requirepass } = {}) {
    this.requirepass = requirepass || null
    this.servers = []
    this.count = primaries * (1 + replicas)
    this.replicas = replicas
    this.clients = []
  }

  async start () {
    try {
      for (let i = 0; i < this.count; i++) {
        const s = new RedisServer({
          requirepass: this.requirepass,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000',
            // A replica that never synced cannot take over: sync at once, not after the default 5 s.
            '--repl-diskless-sync-delay', '0']
        })
        this.servers.push(s)
        await s.start()
      }
      const args = ['--cluster', 'create', ...this.servers.map((s) => `127.0.0.1:${s.port}`),
        '--cluster-replicas', String(this.replicas), '--cluster-yes']
      if (this.requirepass) args.push('-a', this.requirepass, '--no-auth-warning')
      await run('redis-cli', args)
      await this.waitHealthy()
    } catch (err) {
      await this.close()
      throw err
    }
    return this
  }

  /** The nodes still running, as ioredis' Cluster takes its startup nodes. */
  get nodes () {
    return this.servers.filter((s) => s.proc).map((s) => ({ host: '127.0.0.1', port: s.port }))
  }

  /** Options for ioredis' Cluster: the password, and quick retries during a failover. */
  clusterOptions () {
    const redisOptions = { maxRetriesPerRequest: 1 }
    if (this.requirepass) redisOptions.password = this.requirepass
    return { redisOptions, retryDelayOnFailover: 200, retryDelayOnClusterDown: 200 }
  }

  /** A Cluster client, closed with the cluster. */
  client () {
    const c = new Redis.Cluster(this.nodes, this.clusterOptions())
    c.on('error', () => {})
    this.clients.push(c)
    return c
  }

  /** A plain client of one node (no redirections followed). */
  nodeClient (server) {
    return server.client()
  }

  /** The running server that is the primary for `key`'s slot. */
  async primaryOf (key) {
    const probe = this.nodeClient(this.servers.find((s) => s.proc))
    const slot = await probe.cluster('KEYSLOT', key)
    const ranges = await probe.cluster('SLOTS')
    for (const [from, to, [, port]] of ranges) {
      if (slot >= from && slot <= to) return this.servers.find((s) => s.port === port)
    }
    throw new Error(`no primary serves slot ${slot} of ${key}`)
  }

  /**
   * Resolves once every running node says the cluster is ok, all slots are
   * covered and no running node's view still has a failed primary serving
   * slots (after a failover: the replica has been promoted), and every
   * replica has synced with its primary.
   */
  async waitHealthy (ms = 30000) {
    const until = Date.now() + ms
    for (;;) {
      const ok = await Promise.all(this.servers.filter((s) => s.proc).map(async (s) => {
        const c = new Redis({ host: '127.0.0.1', port: s.port, password: this.requirepass || undefined, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
        c.on('error', () => {})
        try {
          await c.connect()
          const info = await c.cluster('INFO')
          const nodes = await c.cluster('NODES')
          // Every slot-serving primary is a running node (a killed one's replica has taken over).
          const running = new Set(this.nodes.map((n) => n.port))
          const stalePrimary = nodes.split('\n').some((l) => {
            const f = l.split(' ')
            const port = Number((f[1] || '').split('@')[0].split(':').pop())
            return /master/.test(f[2] || '') && f.length > 8 && (!running.has(port) || /fail/.test(f[2]))
          })
          // A replica that has not synced with its primary could not take over.
          const replication = await c.info('replication')
          const synced = !/role:slave/.test(replication) || /master_link_status:up/.test(replication)
          return synced && /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && !stalePrimary
        } catch {
          return false
        } finally {
          c.disconnect()
        }
      }))
      if (ok.every(Boolean)) return
      if (Date.now() > until) throw new Error('the Redis Cluster did not become healthy')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  async close () {
    for (const c of this.clients) c.disconnect()
    this.clients = []
    for (const s of this.servers) await s.close()
  }
}

function run (cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d) => { out += d })
    p.stderr.on('data', (d) => { out += d })
    p.once('error', reject)
    p.once('exit', (code) => code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${out}`)))
  })
}

/** A started cluster (see RedisCluster). */
async function startCluster (options) {
  return new RedisCluster(options).start()
}

/** A started server; `{ requirepass }` makes it require that password. */
async function startRedis (options) {
  return new RedisServer(options).start()
}

/**
 * A private redis-server for the enclosing describe(): started in its
 * before() hook, closed in its after(). Returns { server, redis } (a
 * client), filled in once the hook has run.
 */
function usePrivateRedis () {
  const { before, after } = require('node:test')
  const ctx = { server: null, redis: null }
  before(async () => {
    ctx.server = await startRedis()
    ctx.redis = ctx.server.client()
  })
  after(async () => { await ctx.server?.close() })
  return ctx
}

/**
 * A private Redis Cluster for the enclosing describe() (options as
 * startCluster's): started in its before() hook, closed in its after().
 * Returns { cluster, redis } (a Cluster client), filled in once the hook has run.
 */
function usePrivateCluster (options) {
  const { before, after } = require('node:test')
  const ctx = { cluster: null, redis: null }
  before(async () => {
    ctx.cluster = await startCluster(options)
    ctx.redis = ctx.cluster.client()
  })
  after(async () => { await ctx.cluster?.close() })
  return ctx
}

module.exports = { startRedis, usePrivateRedis, RedisServer, startCluster, usePrivateCluster, RedisCluster }
