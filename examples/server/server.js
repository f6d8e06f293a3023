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
const FORMATS = new Set(['jpeg', 'png', 'webp'])

function createApp () {
  const app = express()
  // Interactive resizes jump the stress backlog with a higher priority.
  const queue = new JobQueue({ maxQueued: MAX_STRESS + 100 })
  const raw = express.raw({ type: () => true, limit: '25mb' })

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
  const onDone = () => { completed++; completedAt.push(performance.now()) }
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
      const out = await queue.add('resize', req.body, options, { priority: 1 })
      const meta = await metadata(out)
      res.set({ 'x-width': meta.width, 'x-height': meta.height, 'x-ms': (performance.now() - started).toFixed(1) })
      res.type(options.format).send(out)
    } catch (err) {
      res.status(err.code === 'ERR_QUEUE_FULL' ? 503 : 400).json({ code: err.code, message: err.message })
    }
  })

  // Queues `count` resizes of the posted image and answers at once; the
  // stats stream shows them drain.
  app.post('/api/stress', raw, async (req, res) => {
    const count = Math.min(MAX_STRESS, Math.max(1, Number(req.query.count) || 200))
    try {
      await metadata(req.body) // reject a bad upload once, not `count` times
    } catch (err) {
      return res.status(400).json({ code: err.code, message: err.message })
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

  app.get('/health', (req, res) => res.json({ ok: true }))

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
