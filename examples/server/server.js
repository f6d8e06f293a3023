'use strict'

// `npm start`: a small Express app around rusque. Drop an image on the page,
// pick a size, see the result beside the original; press "stress" to queue
// a batch of resizes and watch the event loop stay free while the pool works.
//
//   PORT=3000 HOST=127.0.0.1 npm start
//
// It is also the example of putting image work behind a public endpoint, so
// every request's cost is bounded before any work starts:
// - uploads: at most MAX_UPLOAD bytes each, at most MAX_UPLOADS at once and
//   UPLOAD_BUDGET bytes in flight (refused with 503 before the body is read);
// - images: at most MAX_INPUT_PIXELS decoded (rusque's limitInputPixels), at
//   most MAX_DIMENSION on a side out;
// - stress: at most STRESS_PER_REQUEST resizes per request and STRESS_IN_FLIGHT
//   across all clients (503 with Retry-After beyond that), of images up to
//   STRESS_MAX_PIXELS;
// - slow clients: headersTimeout, requestTimeout and keepAliveTimeout on the
//   HTTP server (see createServer).

const http = require('node:http')
const path = require('node:path')
const express = require('express')
const { metadata, JobQueue, poolInfo, prometheus } = require('../..')

const MB = 1024 * 1024
const MAX_UPLOAD = 25 * MB
const MAX_UPLOADS = 64
const UPLOAD_BUDGET = 256 * MB
const MAX_INPUT_PIXELS = 50e6
const MAX_DIMENSION = 4096
const STRESS_PER_REQUEST = 50
const STRESS_IN_FLIGHT = 150
const STRESS_MAX_PIXELS = 12e6
const FORMATS = new Set(['jpeg', 'png', 'webp'])

// Slow or idle clients may hold a connection only this long (ms).
const TIMEOUTS = {
  headersTimeout: 10000, // the request line and headers
  requestTimeout: 60000, // the whole request, body included (25 MB at >= 420 KB/s)
  keepAliveTimeout: 5000 // an idle keep-alive connection
}

// rusque's error codes that mean "the upload or the query is wrong" (4xx) or
// "busy or closing, come back" (503). Any other code is a server fault (500).
const STATUS = {
  ERR_INVALID_ARG: 400,
  ERR_UNSUPPORTED_FORMAT: 415,
  ERR_CORRUPT_INPUT: 422,
  ERR_LIMIT_EXCEEDED: 422,
  ERR_QUEUE_FULL: 503,
  ERR_QUEUE_CLOSED: 503,
  ERR_SERVER_BUSY: 503
}
const TOO_LARGE = { code: 'ERR_UPLOAD_TOO_LARGE', message: `uploads are limited to ${MAX_UPLOAD / MB} MB` }

/** An error of this server's own, shaped like rusque's ({ code, message }). */
function httpError (code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

function sendError (res, err) {
  // The client has gone: nobody to answer.
  if (res.destroyed || res.headersSent) return
  const status = STATUS[err.code] || 500
  if (status === 500) console.error(err)
  if (status === 503) res.set('retry-after', '1')
  res.status(status).json({ code: status === 500 ? 'ERR_INTERNAL' : err.code, message: status === 500 ? 'internal error' : err.message })
}

// Refuses an upload before reading it when it is declared too large, or when
// too many uploads (or bytes) are already in flight. An upload without a
// content-length is counted at the largest size it may reach. (The body
// parser alone would read and discard the whole body first, however large.)
function uploadGate () {
  let uploads = 0
  let bytes = 0
  return function gate (req, res, next) {
    const declared = req.headers['content-length'] === undefined ? MAX_UPLOAD : Number(req.headers['content-length'])
    if (declared > MAX_UPLOAD) {
      res.set('connection', 'close')
      return res.status(413).json(TOO_LARGE)
    }
    if (uploads + 1 > MAX_UPLOADS || bytes + declared > UPLOAD_BUDGET) {
      res.set('connection', 'close')
      return sendError(res, httpError('ERR_SERVER_BUSY', `too many uploads in progress (at most ${MAX_UPLOADS}, ${UPLOAD_BUDGET / MB} MB): retry shortly`))
    }
    uploads++
    bytes += declared
    // 'close' follows an answer and a client that leaves alike.
    res.once('close', () => { uploads--; bytes -= declared })
    next()
  }
}

// An AbortSignal that fires when the client disconnects before its answer:
// its job leaves the queue, or stops at its next checkpoint if running.
function clientGone (res) {
  const ac = new AbortController()
  res.on('close', () => { if (!res.writableFinished) ac.abort() })
  return ac.signal
}

/** A query's dimension: absent, or an integer from 1 to MAX_DIMENSION. */
function dimension (q, name) {
  const v = q[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < 1 || n > MAX_DIMENSION) {
    throw httpError('ERR_INVALID_ARG', `${name} must be an integer from 1 to ${MAX_DIMENSION}, got ${JSON.stringify(String(v).slice(0, 20))}`)
  }
  return n
}

// The output fits a MAX_DIMENSION box whatever the input's shape: a side
// left open is bounded too (an image 10 pixels wide and 40,000 high, asked
// for width 4096, would otherwise come out 16 million pixels high). With no
// size at all the image keeps its own (at most MAX_INPUT_PIXELS).
function resizeOptions (q) {
  const format = q.format === undefined ? 'webp' : q.format
  if (!FORMATS.has(format)) throw httpError('ERR_INVALID_ARG', `format must be one of ${[...FORMATS].join(', ')}`)
  const width = dimension(q, 'width')
  const height = dimension(q, 'height')
  const open = width === undefined && height === undefined
  return {
    width: open ? undefined : (width || MAX_DIMENSION),
    height: open ? undefined : (height || MAX_DIMENSION),
    format,
    fit: 'inside',
    limitInputPixels: MAX_INPUT_PIXELS
  }
}

/** The number of stress resizes asked for: an integer from 1 to STRESS_PER_REQUEST. */
function stressCount (q) {
  if (q.count === undefined) return 20
  const n = Number(q.count)
  if (typeof q.count !== 'string' || !/^\d+$/.test(q.count) || n < 1 || n > STRESS_PER_REQUEST) {
    throw httpError('ERR_INVALID_ARG', `count must be an integer from 1 to ${STRESS_PER_REQUEST}, got ${JSON.stringify(String(q.count).slice(0, 20))}`)
  }
  return n
}

// Event-loop lag: how late a 10 ms timer fires, summarised once a second.
// (perf_hooks' monitorEventLoopDelay counts its own timer period in every
// sample, which reads as lag on an idle server.) `reset()` drops what was
// measured so far: start-up work (loading modules, the first requests'
// compilation) is not lag a client would see.
function lagMonitor () {
  const TICK = 10
  let gaps = []
  let lastTick = performance.now()
  let lag = { p99: 0, max: 0, mean: 0 }
  let peak = 0
  const ticker = setInterval(() => {
    const now = performance.now()
    gaps.push(Math.max(0, now - lastTick - TICK))
    lastTick = now
  }, TICK)
  ticker.unref()
  const sampler = setInterval(() => {
    const sorted = gaps.sort((a, b) => a - b)
    gaps = []
    if (sorted.length === 0) return
    lag = {
      p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))],
      max: sorted[sorted.length - 1],
      mean: sorted.reduce((a, b) => a + b, 0) / sorted.length
    }
    peak = Math.max(peak, lag.max)
  }, 1000)
  sampler.unref()
  return {
    get lag () { return lag },
    get peak () { return peak },
    reset () {
      gaps = []
      lastTick = performance.now()
      lag = { p99: 0, max: 0, mean: 0 }
      peak = 0
    },
    stop () { clearInterval(ticker); clearInterval(sampler) }
  }
}

function createApp ({ maxQueued = STRESS_IN_FLIGHT + 2 * MAX_UPLOADS } = {}) {
  const app = express()
  // Interactive resizes jump the stress backlog with a higher priority.
  const queue = new JobQueue({ maxQueued })
  const raw = [uploadGate(), express.raw({ type: () => true, limit: MAX_UPLOAD })]
  const monitor = lagMonitor()

  let completedAt = [] // completion times of the last few seconds, for throughput
  let completed = 0
  let failed = 0
  let stressInFlight = 0
  const onDone = () => {
    completed++
    const now = performance.now()
    completedAt.push(now)
    // Trimmed here too, or a server nobody watches keeps every timestamp.
    if (completedAt.length > 10000) completedAt = completedAt.filter((t) => now - t < 2000)
  }
  queue.on('completed', onDone)
  queue.on('failed', () => { failed++ })

  function stats () {
    const now = performance.now()
    completedAt = completedAt.filter((t) => now - t < 2000)
    return {
      lag: monitor.lag,
      peakLag: monitor.peak,
      waiting: queue.size,
      running: queue.running,
      stress: stressInFlight,
      completed,
      failed,
      throughput: completedAt.length / 2,
      pool: poolInfo()
    }
  }

  app.use(express.static(path.join(__dirname, 'public')))
  // The page declares an empty icon; browsers that ask anyway get no 404.
  app.get('/favicon.ico', (req, res) => res.status(204).end())

  // The query is checked before the body is read: a bad one costs no upload.
  const query = (check) => (req, res, next) => {
    try {
      res.locals.query = check(req.query)
    } catch (err) {
      res.set('connection', 'close') // the unread body is not worth draining
      return sendError(res, err)
    }
    next()
  }

  app.post('/api/resize', query(resizeOptions), raw, async (req, res) => {
    const started = performance.now()
    try {
      const options = res.locals.query
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
  // stats stream shows them drain. All of a request's resizes are admitted
  // or none: a request that would take the server past STRESS_IN_FLIGHT is
  // refused with 503, so one client cannot fill the queue for everyone.
  const stressRoom = (count) => {
    if (stressInFlight + count > STRESS_IN_FLIGHT) {
      throw httpError('ERR_SERVER_BUSY', `${stressInFlight} stress resizes are in flight (at most ${STRESS_IN_FLIGHT}): retry when they drain`)
    }
    return count
  }

  app.post('/api/stress', query((q) => stressRoom(stressCount(q))), raw, async (req, res) => {
    const count = res.locals.query
    try {
      const meta = await metadata(req.body) // reject a bad upload once, not `count` times
      if (meta.width * meta.height > STRESS_MAX_PIXELS) {
        throw httpError('ERR_LIMIT_EXCEEDED', `stress takes images up to ${STRESS_MAX_PIXELS / 1e6} megapixels; this one has ${(meta.width * meta.height / 1e6).toFixed(1)}`)
      }
      // Checked again: other requests may have taken the room while this body arrived.
      stressRoom(count)
    } catch (err) {
      return sendError(res, err)
    }
    stressInFlight += count
    const widths = [160, 320, 480, 640, 800]
    let refused = 0
    for (let i = 0; i < count; i++) {
      const options = { width: widths[i % widths.length], format: 'webp', limitInputPixels: MAX_INPUT_PIXELS }
      queue.add('resize', req.body, options)
        .catch((err) => { if (err.code === 'ERR_QUEUE_FULL') refused++ })
        .finally(() => { stressInFlight-- })
    }
    // Admission (or ERR_QUEUE_FULL) is decided within the tick of add().
    await new Promise((resolve) => setImmediate(resolve))
    res.json({ queued: count - refused, refused })
  })

  app.get('/api/stats', (req, res) => res.json(stats()))

  // Prometheus scrapes this: the pool's counters and this queue's.
  app.get('/metrics', (req, res) => {
    res.type('text/plain; version=0.0.4').send(prometheus({ queues: { demo: queue } }))
  })

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

  return {
    app,
    queue,
    stats,
    /** Forgets the lag measured so far (call once the server listens). */
    resetLag: monitor.reset,
    close: () => { monitor.stop(); return queue.close({ drain: false }) }
  }
}

/**
 * The HTTP server around createApp's app, with the timeouts that keep slow
 * clients from holding connections (TIMEOUTS, overridable for tests).
 */
function createServer (options = {}) {
  const demo = createApp(options)
  const timeouts = { ...TIMEOUTS, ...options.timeouts }
  // Node checks the header and request timeouts on this interval (30 s by default).
  const server = http.createServer({ connectionsCheckingInterval: Math.min(1000, timeouts.headersTimeout) }, demo.app)
  server.headersTimeout = timeouts.headersTimeout
  server.requestTimeout = timeouts.requestTimeout
  server.keepAliveTimeout = timeouts.keepAliveTimeout
  server.on('close', () => { demo.close() })
  // Start-up is not lag: measure from the first second of serving.
  server.on('listening', () => setImmediate(demo.resetLag))
  return { server, ...demo }
}

if (require.main === module) {
  const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
  const host = process.env.HOST || '127.0.0.1'
  const { server } = createServer()
  server.listen(port, host, () => {
    const { port } = server.address()
    console.log(`rusque demo on http://${host}:${port}/  (pool: ${JSON.stringify(poolInfo())})`)
  })
  process.on('SIGINT', () => server.close(() => process.exit(0)))
  process.on('SIGTERM', () => server.close(() => process.exit(0)))
}

module.exports = { createApp, createServer, TIMEOUTS, STRESS_PER_REQUEST, STRESS_IN_FLIGHT, MAX_DIMENSION }
