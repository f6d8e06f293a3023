'use strict'

// `npm run demo`: resizes the fixture photos on rusque's pool while a 1 ms
// ticker runs on the JS thread, then prints what it did and how free the event
// loop stayed. No Redis, no network: everything runs in this process.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { resize, metadata, hash, poolInfo, JobQueue } = require('..')

const fixtures = process.env.RUSQUE_FIXTURES || path.resolve(__dirname, '..', 'fixtures', 'images')
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-demo-'))

function ticker () {
  const gaps = []
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    gaps.push(now - last)
    last = now
  }, 1)
  return () => {
    clearInterval(timer)
    gaps.sort((a, b) => a - b)
    return { ticks: gaps.length, max: gaps[gaps.length - 1] || 0, p99: gaps[Math.floor(gaps.length * 0.99)] || 0 }
  }
}

async function main () {
  const photos = fs.readdirSync(fixtures)
    .filter((f) => /\.(jpe?g|png|webp|gif)$/i.test(f))
    .map((f) => ({ name: f, bytes: fs.readFileSync(path.join(fixtures, f)) }))
  console.log(`rusque demo: ${photos.length} images from ${fixtures}`)
  console.log(`pool: ${poolInfo().threads} threads (nice ${poolInfo().nice}); output in ${outDir}\n`)

  const stop = ticker()
  const t0 = performance.now()
  const queue = new JobQueue()
  const results = await Promise.all(photos.map(async ({ name, bytes }) => {
    const started = performance.now()
    try {
      const [info, thumb, etag] = await Promise.all([
        metadata(bytes),
        queue.add('resize', bytes, { width: 320, height: 240, fit: 'inside', withoutEnlargement: true, format: 'webp', quality: 75 }),
        hash(bytes, 'blake3')
      ])
      const out = path.join(outDir, name.replace(/\.[^.]+$/, '.webp'))
      fs.writeFileSync(out, thumb)
      const t = await metadata(thumb)
      return `  ok    ${name.padEnd(30)} ${`${info.format} ${info.width}x${info.height}`.padEnd(18)} → webp ${t.width}x${t.height} ${String(thumb.length).padStart(6)} B  etag ${etag.slice(0, 12)}…  ${(performance.now() - started).toFixed(0)} ms`
    } catch (err) {
      return `  error ${name.padEnd(30)} ${err.code}: ${err.message}`
    }
  }))
  const elapsed = performance.now() - t0
  const loop = stop()
  console.log(results.sort().join('\n'))
  console.log(`\n${photos.length} images in ${elapsed.toFixed(0)} ms. Meanwhile the JS thread ticked ${loop.ticks} times:` +
    ` largest gap ${loop.max.toFixed(1)} ms, p99 ${loop.p99.toFixed(1)} ms (a 1 ms timer on a free event loop).`)
  console.log('Broken files above were rejected with a coded error instead of crashing the process.')
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
