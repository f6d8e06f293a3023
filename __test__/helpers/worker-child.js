'use strict'

// A worker in its own process, for crash tests. Configured by argv JSON:
// { port | cluster, namespace, queue, name, concurrency, timeout, recovery,
// native, remote } (native: its one job is native('resize'); remote: its jobs
// are remoteJobs(), answered in the Rust loop). Prints one line per event to
// stdout: "job <args JSON>", "success <args JSON>", "recover <worker name>".

const { Worker, native, remoteJobs } = require('../..')

const cfg = JSON.parse(process.argv[2])
const jobs = {
  slow: async (id, ms) => {
    await new Promise((resolve) => setTimeout(resolve, ms))
    return id
  },
  // Counts its runs in Redis (<namespace>:test:runs:<id>), then keeps the JS
  // thread busy for `ms`: no timer, no I/O, no JS ping meanwhile.
  block: async function (id, ms) {
    await this.connection.redis.incr(`${cfg.namespace}:test:runs:${id}`)
    const until = Date.now() + ms
    while (Date.now() < until) Math.sqrt(Math.random())
    return id
  }
}
// cfg.cluster: a Redis Cluster's nodes ([{ host, port }]) instead of cfg.port.
function connection () {
  if (!cfg.cluster) return { host: '127.0.0.1', port: cfg.port, namespace: cfg.namespace }
  const Redis = require('ioredis')
  const redis = new Redis.Cluster(cfg.cluster, { redisOptions: { maxRetriesPerRequest: 1 } })
  redis.on('error', () => {})
  return { redis, namespace: cfg.namespace }
}
// cfg.native: the one job is a native resize (an all-native worker: the Rust loop).
const worker = new Worker({
  connection: connection(),
  queues: [cfg.queue],
  name: cfg.name,
  timeout: cfg.timeout || 100,
  concurrency: cfg.concurrency || 1,
  recovery: cfg.recovery
}, cfg.remote ? remoteJobs() : cfg.native ? { resize: native('resize') } : jobs)
worker.on('error', () => {})
worker.on('job', (q, job) => process.stdout.write(`job ${JSON.stringify(job.args)}\n`))
worker.on('success', (q, job) => process.stdout.write(`success ${JSON.stringify(job.args)}\n`))
// A remote call's answer as the Rust loop reports it ({ call, error? ... }).
if (cfg.remote) worker.on('success', (q, job, result) => process.stdout.write(`result ${JSON.stringify(result)}\n`))
worker.on('recover', (info) => process.stdout.write(`recover ${info.worker}\n`))
worker.connect().then(() => worker.start()).then(() => process.stdout.write('started\n'))
process.on('SIGTERM', () => worker.end().then(() => process.exit(0)))

// Never outlive the test file that started this worker (killed by a timeout,
// or crashed before its after() hook): an orphan would retry its Redis forever.
const parent = process.ppid
setInterval(() => { if (process.ppid !== parent) process.exit(1) }, 500).unref()
process.stdout.on('error', () => process.exit(1))
