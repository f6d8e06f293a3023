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
const { metadata } = require('..')
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
        ['5_webp_a.webp', 90, 'png', null]
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
