'use strict'

// `npm start`: a small Express app around rusque. Drop an image on the page,
// pick a size, see the result beside the original; press "stress" to queue
// many resizes and watch the event loop stay free while the pool works.
//
//   PORT=3000 HOST=127.0.0.1 npm start

const path = require('node:path')
const express = require('express')
const { resize, metadata, JobQueue, poolInfo } = require('../..')

const MAX_STRESS = 2000
const MAX_UPLOAD = 25 * 1024 * 1024
const FORMATS = new Set(['jpeg', 'png', 'webp'])

// rusque's error codes that mean "the upload or the query is wrong" (4xx) or
// "busy or closing, come back" (503). Any other code is a server fault (500).
const STATUS = {
  ERR_INVALID_ARG: 400,
  ERR_UNSUPPORTED_FORMAT: 415,
  ERR_CORRUPT_INPUT: 422,
  ERR_LIMIT_EXCEEDED: 422,
  ERR_QUEUE_FULL: 503,
  ERR_QUEUE_CLOSED: 503
}
const TOO_LARGE = { code: 'ERR_UPLOAD_TOO_LARGE', message: `uploads are limited to ${MAX_UPLOAD / 1024 / 1024} MB` }

function sendError (res, err) {
  // The client has gone: nobody to answer.
  if (res.destroyed || res.headersSent) return
  const status = STATUS[err.code] || 500
  if (status === 500) console.error(err)
  if (status === 503) res.set('retry-after', '1')
  res.status(status).json({ code: err.code || 'ERR_INTERNAL', message: err.message })
}

// Refuses a declared oversized upload before reading it. (The body parser
// alone would read and discard the whole body first, however large.)
function uploadLimit (req, res, next) {
  if (Number(req.headers['content-length']) > MAX_UPLOAD) {
    res.set('connection', 'close')
    return res.status(413).json(TOO_LARGE)
  }
  next()
}

// An AbortSignal that fires when the client disconnects before its answer:
// its job leaves the queue, or stops at its next checkpoint if running.
function clientGone (res) {
  const ac = new AbortController()
  res.on('close', () => { if (!res.writableFinished) ac.abort() })
  return ac.signal
}

function createApp ({ maxQueued = MAX_STRESS + 100 } = {}) {
  const app = express()
  // Interactive resizes jump the stress backlog with a higher priority.
  const queue = new JobQueue({ maxQueued })
  const raw = [uploadLimit, express.raw({ type: () => true, limit: MAX_UPLOAD })]

  // Event-loop lag: how late a 10 ms timer fires, summarised once a second.
  // (perf_hooks' monitorEventLoopDelay counts its own timer period in every
  // sample, which reads as lag on an idle server.)
  const TICK = 10
  let gaps = []
  let lastTick = performance.now()
  const ticker = setInterval(() => {
    const now = performance.now()
    gaps.push(Math.max(0, now - lastTick - TICK))
    lastTick = now
  }, TICK)
  ticker.unref()
  let completedAt = [] // completion times of the last few seconds, for throughput
  let completed = 0
  let failed = 0
  let lag = { p99: 0, max: 0, mean: 0 }
  let peakLag = 0
  const onDone = () => {
    completed++
    const now = performance.now()
    completedAt.push(now)
    // Trimmed here too, or a server nobody watches keeps every timestamp.
    if (completedAt.length > 10000) completedAt = completedAt.filter((t) => now - t < 2000)
  }
  queue.on('completed', onDone)
  queue.on('failed', () => { failed++ })
  const sampler = setInterval(() => {
    const sorted = gaps.sort((a, b) => a - b)
    gaps = []
    if (sorted.length === 0) return
    lag = {
      p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))],
      max: sorted[sorted.length - 1],
      mean: sorted.reduce((a, b) => a + b, 0) / sorted.length
    }
    peakLag = Math.max(peakLag, lag.max)
  }, 1000)
  sampler.unref()

  function stats () {
    const now = performance.now()
    completedAt = completedAt.filter((t) => now - t < 2000)
    return {
      lag,
      peakLag,
      waiting: queue.size,
      running: queue.running,
      completed,
      failed,
      throughput: completedAt.length / 2,
      pool: poolInfo()
    }
  }

  function resizeOptions (q) {
    const width = q.width ? Number(q.width) : undefined
    const height = q.height ? Number(q.height) : undefined
    const format = FORMATS.has(q.format) ? q.format : 'webp'
    return { width, height, format, fit: q.fit || 'inside' }
  }

  app.use(express.static(path.join(__dirname, 'public')))

  app.post('/api/resize', raw, async (req, res) => {
    const started = performance.now()
    try {
      const options = resizeOptions(req.query)
      const signal = clientGone(res)
      const out = await queue.add('resize', req.body, options, { priority: 1, signal })
      const meta = await metadata(out)
      res.set({ 'x-width': meta.width, 'x-height': meta.height, 'x-ms': (performance.now() - started).toFixed(1) })
      res.type(options.format).send(out)
    } catch (err) {
      sendError(res, err)
    }
  })

  // Queues `count` resizes of the posted image and answers at once; the
  // stats stream shows them drain.
  app.post('/api/stress', raw, async (req, res) => {
    const count = Math.min(MAX_STRESS, Math.max(1, Number(req.query.count) || 200))
    try {
      await metadata(req.body) // reject a bad upload once, not `count` times
    } catch (err) {
      return sendError(res, err)
    }
    const widths = [160, 320, 480, 640, 800]
    let refused = 0
    // Enqueue in slices so a big burst never holds the event loop for long.
    for (let i = 0; i < count; i++) {
      queue.add('resize', req.body, { width: widths[i % widths.length], format: 'webp' }).catch((err) => {
        if (err.code === 'ERR_QUEUE_FULL') refused++
      })
      if (i % 25 === 24) await new Promise((resolve) => setImmediate(resolve))
    }
    await new Promise((resolve) => setImmediate(resolve))
    res.json({ queued: count - refused, refused })
  })

  app.get('/api/stats', (req, res) => res.json(stats()))

  // Server-sent events: the page's live panel, four times a second.
  app.get('/api/events', (req, res) => {
    res.set({ 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.flushHeaders()
    const send = () => res.write(`data: ${JSON.stringify(stats())}\n\n`)
    send()
    const timer = setInterval(send, 250)
    req.on('close', () => clearInterval(timer))
  })

  // `memory` lets a load test tell JS-held memory (heapUsed, external) from
  // what the allocator keeps mapped (the rest of rss).
  app.get('/health', (req, res) => res.json({ ok: true, memory: process.memoryUsage() }))

  // Errors from reading the upload. A client that disconnects mid-upload is
  // not an error worth a log line: the partial body is already dropped.
  app.use((err, req, res, next) => {
    if (err.type === 'request.aborted' || res.destroyed) return
    if (err.type === 'entity.too.large') return res.status(413).json(TOO_LARGE)
    if (err.status >= 400 && err.status < 500) {
      return res.status(err.status).json({ code: 'ERR_BAD_REQUEST', message: err.message })
    }
    next(err)
  })

  return { app, queue, close: () => { clearInterval(sampler); clearInterval(ticker); return queue.close({ drain: false }) } }
}

if (require.main === module) {
  const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
  const host = process.env.HOST || '127.0.0.1'
  const { app } = createApp()
  const server = app.listen(port, host, () => {
    const { port } = server.address()
    console.log(`rusque demo on http://${host}:${port}/  (pool: ${JSON.stringify(poolInfo())})`)
  })
  process.on('SIGINT', () => server.close(() => process.exit(0)))
  process.on('SIGTERM', () => server.close(() => process.exit(0)))
}

module.exports = { createApp }
