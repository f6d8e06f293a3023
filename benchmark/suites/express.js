'use strict'

// An Express server resizing uploads, as users run it: rusque's resize()
// against jimp in the handler. Concurrent clients post the large JPEG for a
// fixed time while a prober hits GET /health; we report resizes/s and the
// health check's latency (what every other request of that server feels).

const http = require('node:http')
const path = require('node:path')
const { fork } = require('node:child_process')
const { performance } = require('node:perf_hooks')
const { readFixture } = require('../lib/fixtures')
const { percentile, median } = require('../lib/stats')

const CLIENTS = 4
const SECONDS = 8

function request (port, method, url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, agent: false, headers: body ? { 'content-type': 'image/jpeg', 'content-length': body.length } : {} }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject)
    if (body) req.end(body)
    else req.end()
  })
}

async function scenario (engine, photo, log) {
  const child = fork(path.join(__dirname, '..', 'workers', 'express-app.js'), [], { env: { ...process.env, ENGINE: engine }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const { port } = await new Promise((resolve) => child.once('message', resolve))
  const until = performance.now() + SECONDS * 1000
  let resized = 0
  let bad = 0
  const clients = Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < until) {
      const r = await request(port, 'POST', '/resize?width=720', photo)
      if (r.status === 200 && r.body[0] === 0xff && r.body[1] === 0xd8) resized++
      else bad++
    }
  })
  const health = []
  const prober = (async () => {
    while (performance.now() < until) {
      const t0 = performance.now()
      await request(port, 'GET', '/health')
      health.push(performance.now() - t0)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  const t0 = performance.now()
  await Promise.all([...clients, prober])
  const seconds = (performance.now() - t0) / 1000
  child.send('stop')
  await new Promise((resolve) => child.once('exit', resolve))
  log(`${engine}: ${resized} resizes in ${seconds.toFixed(1)} s, ${bad} bad; /health p99 ${percentile(health, 99).toFixed(1)} ms over ${health.length} probes`)
  return { resizesPerSecond: resized / seconds, bad, health }
}

module.exports = {
  description: `Express 5 server resizing the 2725x2225 JPEG to 720 wide: ${CLIENTS} clients for ${SECONDS} s, GET /health probed meanwhile`,
  async run ({ log }) {
    const photo = readFixture('2569067123_aca715a2ee_o.jpg')
    const rusque = await scenario('rusque', photo, log)
    const jimp = await scenario('jimp', photo, log)
    const row = (name, r) => ({
      handler: name,
      rps: r.resizesPerSecond.toFixed(1),
      p50: median(r.health).toFixed(1),
      p99: percentile(r.health, 99).toFixed(1),
      max: Math.max(...r.health).toFixed(1),
      bad: r.bad
    })
    return {
      columns: [
        { key: 'handler', title: 'handler' },
        { key: 'rps', title: 'resizes/s', align: 'right' },
        { key: 'p50', title: '/health p50 (ms)', align: 'right' },
        { key: 'p99', title: '/health p99 (ms)', align: 'right' },
        { key: 'max', title: '/health max (ms)', align: 'right' },
        { key: 'bad', title: 'failed responses', align: 'right' }
      ],
      rows: [row('await resize() (rusque)', rusque), row('jimp in the handler', jimp)],
      notes: [`rusque/jimp throughput ${(rusque.resizesPerSecond / jimp.resizesPerSecond).toFixed(1)}x; the /health latency is what every other request of the server waits.`],
      details: { rusque, jimp }
    }
  }
}
