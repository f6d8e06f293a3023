'use strict'

// AVIF output beside sharp's (libheif + libaom), two questions:
// 1. Quality per byte: the same 720x588 pixels (sharp's resize of the
//    2725x2225 fixture, as a PNG) encoded by both at the same `quality`;
//    PSNR of each decoded result (sharp decodes both) against those pixels,
//    and the byte ratio. Issue #16's bar: within 1 dB at <= 1.3x bytes.
// 2. Throughput: the whole call (2725x2225 JPEG -> 720x588 AVIF at the
//    default settings), sequential calls and calls 4 in flight, in
//    alternating rounds; medians. The bar: >= 0.5x sharp.
// Effort (rusque's rav1e speed = 10 - effort) is swept so the default's
// place in the size/speed trade-off is visible.

const { performance } = require('node:perf_hooks')

const { REPO_ROOT } = require('../lib/machine')
const { readFixture } = require('../lib/fixtures')
const { startContention } = require('../lib/contention')
const { psnr } = require('../lib/lanczos')
const { median } = require('../lib/stats')

const IMAGE = '2569067123_aca715a2ee_o.jpg'
const WIDTH = 720
const HEIGHT = 588

const PLANS = {
  full: { qualities: [20, 35, 50, 65, 80], efforts: [0, 4, 6], rounds: 3, calls: 3, concurrency: 4 },
  quick: { qualities: [50], efforts: [4], rounds: 2, calls: 2, concurrency: 4 }
}

const description = `AVIF: quality per byte on the same ${WIDTH}x${HEIGHT} pixels, and ${WIDTH}x${HEIGHT} AVIF from the 2725x2225 JPEG per second: rusque (rav1e) vs sharp (libaom)`

async function decodeRgb (sharp, buf) {
  const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  if (info.width !== WIDTH || info.height !== HEIGHT) throw new Error(`decoded ${info.width}x${info.height}, expected ${WIDTH}x${HEIGHT}`)
  return data
}

async function run ({ log, args = [] }) {
  const plan = args.includes('--quick') ? PLANS.quick : PLANS.full
  const sharp = require('sharp')
  const rusque = require(REPO_ROOT)
  sharp.cache(false)

  const input = readFixture(IMAGE)
  const refPng = await sharp(input).resize(WIDTH, HEIGHT).png({ compressionLevel: 1 }).toBuffer()
  const ref = await decodeRgb(sharp, refPng)

  const rows = []
  // 1. Quality per byte, encoder against encoder, at each effort's default.
  for (const quality of plan.qualities) {
    const ours = await rusque.resize(refPng, { format: 'avif', quality })
    const theirs = await sharp(refPng).avif({ quality }).toBuffer()
    const p = { rusque: psnr(ref, await decodeRgb(sharp, ours)), sharp: psnr(ref, await decodeRgb(sharp, theirs)) }
    rows.push({
      case: `quality ${quality}, effort 4`,
      'rusque bytes': ours.length,
      'sharp bytes': theirs.length,
      'bytes ratio': (ours.length / theirs.length).toFixed(2),
      'rusque PSNR': p.rusque.toFixed(2),
      'sharp PSNR': p.sharp.toFixed(2),
      'PSNR diff': (p.rusque - p.sharp).toFixed(2)
    })
    log(JSON.stringify(rows[rows.length - 1]))
  }

  // 2. Speed of the whole call at each effort (sequential medians).
  const timeCalls = async (call) => {
    const samples = []
    for (let i = 0; i < plan.calls; i++) {
      const t0 = performance.now()
      await call()
      samples.push(performance.now() - t0)
    }
    return median(samples)
  }
  const speed = []
  for (const effort of plan.efforts) {
    const calls = {
      rusque: () => rusque.resize(input, { width: WIDTH, height: HEIGHT, format: 'avif', effort }),
      sharp: () => sharp(input).resize(WIDTH, HEIGHT).avif({ effort }).toBuffer()
    }
    await calls.rusque()
    await calls.sharp()
    const ms = { rusque: [], sharp: [] }
    const burst = { rusque: [], sharp: [] }
    const others = []
    for (let r = 0; r < plan.rounds; r++) {
      for (const lib of ['rusque', 'sharp']) {
        const c = startContention()
        ms[lib].push(await timeCalls(calls[lib]))
        const t0 = performance.now()
        await Promise.all(Array.from({ length: plan.concurrency }, () => calls[lib]()))
        burst[lib].push((plan.concurrency * 1000) / (performance.now() - t0))
        const o = c.stop()
        if (o) others.push(o.otherCores)
      }
    }
    const row = {
      effort,
      'rusque ms/call': median(ms.rusque).toFixed(0),
      'sharp ms/call': median(ms.sharp).toFixed(0),
      'rusque img/s (4 in flight)': median(burst.rusque).toFixed(2),
      'sharp img/s (4 in flight)': median(burst.sharp).toFixed(2),
      'throughput ratio': (median(burst.rusque) / median(burst.sharp)).toFixed(2),
      'other processes (cores)': others.length ? median(others).toFixed(2) : 'unknown'
    }
    speed.push(row)
    log(JSON.stringify(row))
  }

  return {
    rows: [...rows, ...speed.map((s) => ({ case: `speed, effort ${s.effort}`, ...s }))],
    notes: [
      `PSNR is over RGB against the ${WIDTH}x${HEIGHT} PNG both encoders were given; both outputs decoded by sharp.`,
      `Speed: ${plan.rounds} alternating rounds of ${plan.calls} sequential calls and ${plan.concurrency} calls in flight, 2725x2225 JPEG -> ${WIDTH}x${HEIGHT} AVIF, quality 50 (both defaults).`,
      `sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, libheif ${sharp.versions.heif || '?'}, aom ${sharp.versions.aom || '?'}.`
    ],
    details: { plan, quality: rows, speed }
  }
}

module.exports = { description, run }
