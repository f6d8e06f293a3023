'use strict'

// A fleet worker for benchmark/suites/remote.js, in a process of its own:
// a Worker with remoteJobs() on the queues given (argv JSON: { port,
// namespace, queues, concurrency }). Prints "ready" once it polls; ends on
// SIGTERM, and with its parent.

const { Worker, remoteJobs } = require('../..')

const cfg = JSON.parse(process.argv[2])
const worker = new Worker({
  connection: { host: '127.0.0.1', port: cfg.port, namespace: cfg.namespace },
  queues: cfg.queues,
  concurrency: cfg.concurrency
}, remoteJobs())
worker.on('error', (err) => process.stderr.write(`remote-worker: ${err.message}\n`))
worker.connect().then(() => worker.start()).then(() => process.stdout.write(`ready ${worker.nativeLoop}\n`))
process.on('SIGTERM', () => worker.end().then(() => process.exit(0)))
const parent = process.ppid
setInterval(() => { if (process.ppid !== parent) process.exit(1) }, 500).unref()
