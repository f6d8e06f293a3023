'use strict'

// The `npm start` demo in headless Chromium (Debian's, driven by
// playwright-core): upload a fixture, get the resized image at the requested
// size, see a failed request clear the old result, press stress and watch
// the live panel while the queue drains back to 0.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { dir: fixturesDir } = require('./helpers/fixtures')

const root = path.resolve(__dirname, '..')
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

function startDemo (t) {
  const child = spawn(process.execPath, [path.join(root, 'examples', 'server', 'server.js')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => child.kill('SIGKILL'))
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`demo exited ${code}: ${err}`)))
  })
}

test('the demo page resizes an uploaded image and stays responsive under stress', { skip: !fs.existsSync(CHROMIUM) && `no browser at ${CHROMIUM}`, timeout: 120000 }, async (t) => {
  const { chromium } = require('playwright-core')
  const url = await startDemo(t)
  // Kept after the test: the screenshot is its artifact.
  const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-demo-test-'))
  const profile = path.join(artifacts, 'profile')
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1100, height: 1100 } })
  t.after(async () => {
    await context.close()
    fs.rmSync(profile, { recursive: true, force: true })
  })
  const page = context.pages()[0] || await context.newPage()
  const pageErrors = []
  page.on('pageerror', (e) => pageErrors.push(e.message))
  // Every request the page makes succeeds (no favicon 404).
  const failedRequests = []
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().includes('/api/resize')) failedRequests.push(`${r.status()} ${r.url()}`) })

  await page.goto(url)
  await page.waitForFunction(() => document.getElementById('threads').textContent !== '–')

  // Upload Landscape_1.jpg (600x450) and ask for 300 px wide PNG.
  await page.fill('#width', '300')
  await page.selectOption('#format', 'png')
  await page.setInputFiles('#file', path.join(fixturesDir, 'Landscape_1.jpg'))
  await page.waitForSelector('#result[data-ready="1"]')
  const shown = await page.evaluate(() => {
    const r = document.getElementById('result')
    const o = document.getElementById('original')
    return { w: r.naturalWidth, h: r.naturalHeight, ow: o.naturalWidth, oh: o.naturalHeight, info: document.getElementById('result-info').textContent }
  })
  assert.deepEqual([shown.w, shown.h], [300, 225], 'Chromium decoded a 300x225 result')
  assert.deepEqual([shown.ow, shown.oh], [600, 450], 'the original is shown beside it')
  assert.match(shown.info, /^resized: 300×225 png, [\d.]+ KB in [\d.]+ ms$/)

  // A second size through the button: 120 px high WebP.
  await page.fill('#width', '')
  await page.fill('#height', '120')
  await page.selectOption('#format', 'webp')
  await page.click('#resize')
  await page.waitForFunction(() => document.getElementById('result').dataset.ready === '1' && document.getElementById('result').naturalHeight === 120)
  assert.equal(await page.evaluate(() => document.getElementById('result').naturalWidth), 160)

  // A failed upload (a width over the server's cap) clears the previous
  // result: the error is not shown beside an image it does not belong to.
  await page.fill('#height', '')
  await page.fill('#width', '5000')
  await page.click('#resize')
  await page.waitForFunction(() => /^error 400: ERR_INVALID_ARG width must be an integer from 1 to 4096/.test(document.getElementById('result-info').textContent))
  const afterError = await page.evaluate(() => {
    const r = document.getElementById('result')
    return { src: r.getAttribute('src'), ready: r.dataset.ready, visible: r.getBoundingClientRect().height > 0 }
  })
  assert.deepEqual(afterError, { src: null, ready: undefined, visible: false })
  await page.fill('#width', '480')

  // Stress: two requests of 50 resizes of the big fixture (50 is the
  // per-request cap); read the live panel as they drain.
  await page.setInputFiles('#file', path.join(fixturesDir, '2569067123_aca715a2ee_o.jpg'))
  await page.waitForSelector('#result[data-ready="1"]')
  const before = Number(await page.textContent('#completed'))
  assert.equal(await page.inputValue('#count'), '50')
  for (let i = 0; i < 2; i++) {
    const answer = page.waitForResponse((r) => r.url().includes('/api/stress'))
    await page.click('#stress')
    const res = await answer
    assert.equal(res.status(), 200)
  }
  await page.waitForFunction(() => /^\d+ queued$/.test(document.getElementById('stress-info').textContent))
  const samples = []
  let shot = false
  const deadline = Date.now() + 90000
  for (;;) {
    const s = await page.evaluate(() => {
      const n = (id) => Number(document.getElementById(id).textContent)
      return {
        lagMax: n('lag-max'), lagP99: n('lag-p99'), waiting: n('waiting'), running: n('running'), throughput: n('throughput'), completed: n('completed'),
        poolQueued: n('pool-queued'), poolRunning: n('pool-running'), poolCompleted: n('pool-completed'), poolFailed: n('pool-failed'),
        poolUtilization: n('pool-utilization'), poolP99: n('pool-p99'), poolMemory: n('pool-memory')
      }
    })
    samples.push(s)
    if (!shot && s.waiting > 0 && samples.length > 8) {
      await page.screenshot({ path: path.join(artifacts, 'demo-stress.png'), fullPage: true })
      shot = true
    }
    if (s.completed >= before + 100 && s.waiting === 0 && s.running === 0) break
    assert.ok(Date.now() < deadline, `stress did not drain: ${JSON.stringify(s)}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  if (!shot) await page.screenshot({ path: path.join(artifacts, 'demo-stress.png'), fullPage: true })
  const busy = samples.filter((s) => s.waiting > 0)
  const peakLag = Math.max(...busy.map((s) => s.lagMax))
  const peakThroughput = Math.max(...samples.map((s) => s.throughput))
  t.diagnostic(`stress: ${samples.length} panel reads, queue depth up to ${Math.max(...samples.map((s) => s.waiting))}, throughput up to ${peakThroughput}/s, lag max while busy ${peakLag.toFixed(1)} ms`)
  t.diagnostic(`lag p99 per second while busy: ${[...new Set(busy.map((s) => s.lagP99))].join(' ')} ms`)
  t.diagnostic(`screenshot: ${path.join(artifacts, 'demo-stress.png')}`)
  assert.ok(busy.length >= 3, 'the panel showed a backlog for a while')
  assert.ok(peakThroughput > 0, 'the panel showed throughput')
  // The pool's own figures (poolInfo) on the panel.
  const last = samples.at(-1)
  assert.ok(last.poolCompleted >= last.completed, `the pool counted every resize (${last.poolCompleted} >= ${last.completed})`)
  assert.ok(samples.some((s) => s.poolRunning > 0), 'the panel showed pool tasks running')
  assert.ok(Math.max(...samples.map((s) => s.poolUtilization)) > 0, 'the panel showed pool utilization')
  assert.ok(last.poolP99 > 0, 'the panel showed the run-time p99')
  for (const s of samples) for (const k of ['poolQueued', 'poolFailed', 'poolMemory']) assert.ok(Number.isFinite(s[k]), `${k} is a number`)
  // Generous bounds that only a blocking pool could break: each resize of this
  // photo takes tens of milliseconds of CPU, so running them on the JS thread
  // would put every second's p99 above that. So the quietest busy second is
  // held to it: single seconds go higher for reasons of their own (Chromium
  // decoding the 6-megapixel original and rendering results on the same two
  // cores as the server: 15 to 57 ms in the first busy second, seen on a
  // 2-core machine), and on a fast machine the backlog lasts only two or
  // three seconds, too few for a median to step over such a one.
  const quietestP99 = Math.min(...busy.map((s) => s.lagP99))
  assert.ok(quietestP99 < 30, `event-loop lag p99 of the quietest busy second: ${quietestP99} ms`)
  assert.ok(peakLag < 300, `worst event-loop lag shown while busy: ${peakLag.toFixed(1)} ms`)
  assert.ok(fs.statSync(path.join(artifacts, 'demo-stress.png')).size > 10000)
  // Once the run has drained, the page says so instead of keeping "50 queued".
  await page.waitForFunction(() => document.getElementById('stress-info').textContent === '0 queued')
  assert.deepEqual(pageErrors, [])
  assert.deepEqual(failedRequests, [])
})
