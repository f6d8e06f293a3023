'use strict'

// The Express example (`npm start`) under a short burst of the traffic that
// `npm run load` keeps up for minutes: concurrent valid uploads, broken bytes,
// an oversized upload, clients leaving mid-upload, and a full queue.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const http = require('node:http')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { metadata, resize } = require('..')
const { fixture, MAGIC } = require('./helpers/fixtures')

const SERVER = path.resolve(__dirname, '..', 'examples', 'server', 'server.js')

function startServer (t) {
  const child = spawn(process.execPath, [SERVER], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const server = { child, stderr: '', port: 0 }
  t.after(() => child.kill('SIGKILL'))
  child.stderr.on('data', (d) => { server.stderr += d })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)
      if (m) { server.port = Number(m[1]); resolve(server) }
    })
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${server.stderr}`)))
  })
}

function post (port, query, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: `/api/resize?${query}`, agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, ...headers } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const buf = Buffer.concat(chunks)
        let json = null
        if (/json/.test(res.headers['content-type'] || '')) json = JSON.parse(buf.toString('utf8'))
        resolve({ status: res.statusCode, headers: res.headers, body: buf, json })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Sends the headers and `sent` bytes of `body`, then destroys the socket. */
function abandon (port, body, sent) {
  return new Promise((resolve) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/resize?width=200', agent: false, headers: { 'content-type': 'image/jpeg', 'content-length': body.length } })
    let answered = null
    req.on('response', (res) => { answered = res.statusCode; res.resume() })
    req.on('error', () => {})
    req.write(body.subarray(0, sent), () => setTimeout(() => { req.destroy(); resolve(answered) }, 20))
  })
}

test('the Express example under concurrent valid, broken and abandoned uploads', { timeout: 60000 }, async (t) => {
  const server = await startServer(t)
  const { port } = server
  const big = fixture('2569067123_aca715a2ee_o.jpg') // 2725x2225

  await t.test('concurrent valid uploads come back at the requested size and format', async () => {
    const cases = []
    for (let i = 0; i < 16; i++) {
      cases.push([
        ['2569067123_aca715a2ee_o.jpg', 720, 'jpeg', 588],
        ['Landscape_1.jpg', 300, 'png', 225],
        ['Landscape_6.jpg', 225, 'webp', 169], // stored 450x600 with EXIF orientation 6: upright 600x450
        ['swiss.png', 100, 'webp', null],
        ['4.webp', 90, 'png', null]
      ][i % 5])
    }
    const results = await Promise.all(cases.map(async ([file, width, format, height]) => {
      const src = fixture(file)
      const res = await post(port, `width=${width}&format=${format}`, src)
      return { file, width, format, height, src, res }
    }))
    for (const { file, width, format, height, src, res } of results) {
      assert.equal(res.status, 200, `${file}: ${res.body.toString().slice(0, 200)}`)
      assert.ok(MAGIC[format](res.body), `${file} came back as ${format}`)
      const meta = await metadata(res.body)
      let expected = height
      if (expected === null) {
        const m = await metadata(src)
        expected = Math.round(m.height * width / m.width)
      }
      assert.equal(meta.width, width, file)
      assert.ok(Math.abs(meta.height - expected) <= 1, `${file}: ${meta.width}x${meta.height}, expected height ${expected}`)
      assert.deepEqual([Number(res.headers['x-width']), Number(res.headers['x-height'])], [meta.width, meta.height])
    }
  })

  await t.test('broken bytes get a 4xx carrying rusque\'s error code and a message', async () => {
    const cases = [
      ['corrupt-header.jpg', fixture('corrupt-header.jpg'), 422, 'ERR_CORRUPT_INPUT'],
      ['truncated.jpg', fixture('truncated.jpg'), 422, 'ERR_CORRUPT_INPUT'],
      ['truncated.png', fixture('truncated.png'), 422, 'ERR_CORRUPT_INPUT'],
      ['giant-image.jpg', fixture('giant-image.jpg'), 422, 'ERR_LIMIT_EXCEEDED'],
      ['random bytes', crypto.randomBytes(4096), 415, 'ERR_UNSUPPORTED_FORMAT'],
      ['zero bytes', Buffer.alloc(0), 400, 'ERR_INVALID_ARG']
    ]
    const results = await Promise.all(cases.map(([, body]) => post(port, 'width=200', body)))
    cases.forEach(([name, , status, code], i) => {
      const res = results[i]
      assert.equal(res.status, status, `${name}: ${res.body.toString().slice(0, 200)}`)
      assert.equal(res.json?.code, code, name)
      assert.ok(res.json.message.length > 10, `${name}: message "${res.json.message}"`)
    })
    const badWidth = await post(port, 'width=abc', fixture('320x240.jpg'))
    assert.equal(badWidth.status, 400)
    assert.equal(badWidth.json.code, 'ERR_INVALID_ARG')
  })

  await t.test('an oversized upload gets 413 before its body is sent', { timeout: 5000 }, async () => {
    const res = await new Promise((resolve, reject) => {
      const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/resize?width=200', agent: false, headers: { 'content-type': 'image/jpeg', 'content-length': 30 * 1024 * 1024 } }, (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => { req.destroy(); resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks)) }) })
      })
      req.on('error', reject)
      req.write(Buffer.alloc(64 * 1024))
    })
    assert.equal(res.status, 413)
    assert.equal(res.json.code, 'ERR_UPLOAD_TOO_LARGE')
    assert.match(res.json.message, /25 MB/)
  })

  await t.test('clients leaving mid-upload or before their answer do not disturb the server', async () => {
    const answered = await Promise.all([0.1, 0.5, 0.9, 0.99].map((f) => abandon(port, big, Math.floor(big.length * f))))
    assert.deepEqual(answered, [null, null, null, null], 'a partial upload is never answered')
    // Whole uploads whose clients leave while their resize waits or runs.
    await Promise.all(Array.from({ length: 6 }, () => new Promise((resolve) => {
      const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/resize?width=1200&format=png', agent: false, headers: { 'content-length': big.length } })
      req.on('error', () => {})
      req.end(big, () => setTimeout(() => { req.destroy(); resolve() }, 5))
    })))
    // The server has seen the disconnects once its queue is empty again.
    for (let i = 0; ; i++) {
      const stats = await new Promise((resolve, reject) => {
        http.get({ port, host: '127.0.0.1', path: '/api/stats' }, (res) => {
          let s = ''
          res.on('data', (d) => { s += d })
          res.on('end', () => resolve(JSON.parse(s)))
        }).on('error', reject)
      })
      if (stats.waiting === 0 && stats.running === 0) break
      assert.ok(i < 200, `queue did not drain: ${JSON.stringify(stats)}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const next = await post(port, 'width=320&format=jpeg', big)
    assert.equal(next.status, 200)
    assert.deepEqual(await metadata(next.body).then((m) => [m.width, m.height]), [320, 261])
    assert.equal(server.child.exitCode, null, 'server still running')
    assert.equal(server.stderr, '', 'server logged nothing')
  })
})

test('a full queue answers 503 with Retry-After and ERR_QUEUE_FULL', async (t) => {
  const { createApp } = require('../examples/server/server.js')
  const { app, queue, close } = createApp({ maxQueued: 1 })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.after(async () => { server.close(); await close() })
  const { port } = server.address()
  const src = fixture('320x240.jpg')

  queue.pause()
  const first = post(port, 'width=100&format=jpeg', src)
  while (queue.size < 1) await new Promise((resolve) => setTimeout(resolve, 5))
  const refused = await post(port, 'width=100&format=jpeg', src)
  assert.equal(refused.status, 503)
  assert.equal(refused.headers['retry-after'], '1')
  assert.equal(refused.json.code, 'ERR_QUEUE_FULL')
  queue.resume()
  const res = await first
  assert.equal(res.status, 200)
  assert.equal((await metadata(res.body)).width, 100)
})

/** POSTs `body` to `path` on an in-process server; resolves with status, headers and parsed JSON. */
function postTo (port, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: urlPath, agent: false, headers: { 'content-length': body.length } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const buf = Buffer.concat(chunks)
        resolve({ status: res.statusCode, headers: res.headers, json: /json/.test(res.headers['content-type'] || '') ? JSON.parse(buf) : null })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function listening (t, options) {
  const { createServer } = require('../examples/server/server.js')
  const demo = createServer(options)
  demo.server.listen(0, '127.0.0.1')
  await new Promise((resolve) => demo.server.once('listening', resolve))
  t.after(() => new Promise((resolve) => { demo.server.closeAllConnections(); demo.server.close(resolve) }))
  return { ...demo, port: demo.server.address().port }
}

test('stress work is capped per request and across clients', async (t) => {
  const { STRESS_PER_REQUEST, STRESS_IN_FLIGHT } = require('../examples/server/server.js')
  const { port, queue, stats } = await listening(t)
  const src = fixture('320x240.jpg')

  // One request asks for at most STRESS_PER_REQUEST resizes: more is a 400, not a clamp.
  for (const count of [String(STRESS_PER_REQUEST + 1), '2000', '0', '-5', '1e3', 'many']) {
    const res = await postTo(port, `/api/stress?count=${count}`, src)
    assert.equal(res.status, 400, `count=${count}`)
    assert.equal(res.json.code, 'ERR_INVALID_ARG')
    assert.match(res.json.message, new RegExp(`count must be an integer from 1 to ${STRESS_PER_REQUEST}`))
  }
  assert.equal(queue.size, 0, 'nothing was queued for refused requests')
  // Refused on its query alone, before its body is read: 20 MB declared, 1 KB sent.
  const early = await new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/stress?count=2000', agent: false, headers: { 'content-length': 20 * 1024 * 1024 } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => { req.destroy(); resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks)) }) })
    })
    req.on('error', reject)
    req.write(Buffer.alloc(1024))
  })
  assert.equal(early.status, 400)
  assert.equal(early.json.code, 'ERR_INVALID_ARG')

  // Requests up to STRESS_IN_FLIGHT in all are admitted; the next one is a 503 with Retry-After.
  queue.pause()
  const full = STRESS_IN_FLIGHT / STRESS_PER_REQUEST
  for (let i = 0; i < full; i++) {
    const res = await postTo(port, `/api/stress?count=${STRESS_PER_REQUEST}`, src)
    assert.equal(res.status, 200)
    assert.deepEqual(res.json, { queued: STRESS_PER_REQUEST, refused: 0 })
  }
  assert.equal(stats().stress, STRESS_IN_FLIGHT)
  const busy = await postTo(port, '/api/stress?count=1', src)
  assert.equal(busy.status, 503)
  assert.equal(busy.headers['retry-after'], '1')
  assert.equal(busy.json.code, 'ERR_SERVER_BUSY')
  assert.equal(queue.size, STRESS_IN_FLIGHT, 'the refused request queued nothing')
  // An interactive resize still gets through while stress fills its share.
  const interactive = postTo(port, '/api/resize?width=100&format=jpeg', src)
  queue.resume()
  assert.equal((await interactive).status, 200)
  await queue.onIdle()
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(stats().stress, 0, 'the in-flight count drains back to 0')
  const again = await postTo(port, '/api/stress?count=5', src)
  assert.equal(again.status, 200)
  await queue.onIdle()
})

test('query dimensions are checked by the server: a clean 400, never a huge output', async (t) => {
  const { MAX_DIMENSION } = require('../examples/server/server.js')
  const { port, queue } = await listening(t)
  const src = fixture('320x240.jpg')
  for (const q of ['width=65535', 'height=65535', `width=${MAX_DIMENSION + 1}`, 'width=1.5', 'width=0x10', 'width=10&width=20', 'format=gif']) {
    const res = await postTo(port, `/api/resize?${q}`, src)
    assert.equal(res.status, 400, q)
    assert.equal(res.json.code, 'ERR_INVALID_ARG', q)
  }
  assert.equal(queue.size + queue.running, 0)
  // A side left open is bounded too: a 4x400 strip asked for the largest
  // width fits the MAX_DIMENSION box instead of coming out 409,600 high.
  const strip = await resize(Buffer.from(fixture('320x240.jpg')), { width: 4, height: 400, fit: 'fill', format: 'png' })
  const tall = await postTo(port, `/api/resize?width=${MAX_DIMENSION}&format=png`, strip)
  assert.equal(tall.status, 200)
  assert.equal(Number(tall.headers['x-height']), MAX_DIMENSION)
  assert.equal(Number(tall.headers['x-width']), Math.round(4 * MAX_DIMENSION / 400))
})

test('concurrent uploads beyond the cap get 503 before their bodies are read', async (t) => {
  const { port } = await listening(t)
  const held = []
  t.after(() => { for (const r of held) r.destroy() })
  // 64 uploads that send their headers and a few bytes, then wait.
  const started = []
  for (let i = 0; i < 64; i++) {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/resize?width=10', agent: false, headers: { 'content-length': 1000 } })
    req.on('error', () => {})
    held.push(req)
    started.push(new Promise((resolve) => req.write(Buffer.alloc(10), resolve)))
  }
  await Promise.all(started)
  // Let the server see all of them.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const refused = await postTo(port, '/api/resize?width=10', fixture('320x240.jpg'))
  assert.equal(refused.status, 503)
  assert.equal(refused.json.code, 'ERR_SERVER_BUSY')
  assert.equal(refused.headers['retry-after'], '1')
  // Uploads that leave free their places.
  for (const r of held) r.destroy()
  held.length = 0
  let res
  for (let i = 0; i < 100; i++) {
    res = await postTo(port, '/api/resize?width=10&format=png', fixture('320x240.jpg'))
    if (res.status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.equal(res.status, 200)
})

test('the server sets header, request and keep-alive timeouts; a client that stalls its headers is cut off', async (t) => {
  const { createServer, TIMEOUTS } = require('../examples/server/server.js')
  const defaults = createServer()
  t.after(() => defaults.close())
  assert.equal(defaults.server.headersTimeout, TIMEOUTS.headersTimeout)
  assert.equal(defaults.server.requestTimeout, TIMEOUTS.requestTimeout)
  assert.equal(defaults.server.keepAliveTimeout, TIMEOUTS.keepAliveTimeout)
  assert.ok(TIMEOUTS.headersTimeout <= 10000 && TIMEOUTS.requestTimeout <= 60000 && TIMEOUTS.keepAliveTimeout <= 10000)

  const { port } = await listening(t, { timeouts: { headersTimeout: 200, requestTimeout: 400 } })
  const net = require('node:net')
  const answer = await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('POST /api/resize HTTP/1.1\r\nHost: x\r\n'))
    let got = ''
    socket.on('data', (d) => { got += d })
    socket.on('error', () => {})
    socket.on('close', () => resolve(got))
  })
  assert.match(answer, /^HTTP\/1\.1 408/)
})

test('a browser asking for /favicon.ico gets 204, not 404', async (t) => {
  const { port } = await listening(t)
  const status = await new Promise((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: '/favicon.ico', agent: false }, (res) => { res.resume(); resolve(res.statusCode) }).on('error', reject)
  })
  assert.equal(status, 204)
})

test('/metrics serves the Prometheus text of the pool and the demo queue', async (t) => {
  const { createApp } = require('../examples/server/server.js')
  const { app, close } = createApp({})
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.after(async () => { server.close(); await close() })
  const { port } = server.address()
  const get = (urlPath) => new Promise((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: urlPath, agent: false }, (res) => {
      let body = ''
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }))
    }).on('error', reject)
  })
  const completed = (text) => Number(/^rusque_queue_jobs_total\{queue="demo",outcome="completed"\} (\d+)$/m.exec(text)[1])
  const before = await get('/metrics')
  assert.equal(before.status, 200)
  assert.match(before.type, /^text\/plain; version=0\.0\.4/)
  assert.match(before.body, /^# TYPE rusque_task_duration_seconds histogram$/m)
  const res = await post(port, 'width=100&format=jpeg', fixture('320x240.jpg'))
  assert.equal(res.status, 200)
  const after = await get('/metrics')
  assert.equal(completed(after.body), completed(before.body) + 1, 'the resize is counted on the demo queue')
  const stats = JSON.parse((await get('/api/stats')).body)
  for (const k of ['queued', 'running', 'completed', 'failed', 'utilization']) assert.equal(typeof stats.pool[k], 'number', k)
  assert.ok(stats.pool.tasks.resize.completed >= 1)
})
