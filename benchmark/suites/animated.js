'use strict'

// Animated resize beside sharp's (`animated: true`): a 12-frame 480x360 pan
// across the 2725x2225 fixture, written by sharp as GIF and as WebP, resized
// to 240 wide by each library, GIF to GIF, WebP to WebP and GIF to WebP.
// For each case: milliseconds per call one at a time, images per second
// with `concurrency` calls in flight, both in alternating rounds (medians),
// the throughput ratio, the output bytes, and PSNR of rusque's frames
// against sharp's (all frames, decoded by sharp).

const { performance } = require('node:perf_hooks')

const { REPO_ROOT } = require('../lib/machine')
const { readFixture } = require('../lib/fixtures')
const { startContention } = require('../lib/contention')
const { alternatingRounds } = require('../lib/rounds')
const { psnr } = require('../lib/lanczos')
const { median } = require('../lib/stats')

const IMAGE = '2569067123_aca715a2ee_o.jpg'
const FRAMES = 12
const [W, H] = [480, 360]
const WIDTH = 240

const PLANS = {
  full: { rounds: 5, images: 8, concurrency: 2 },
  quick: { rounds: 2, images: 3, concurrency: 2 }
}

const description = `animated resize: a ${FRAMES}-frame ${W}x${H} GIF and WebP to ${WIDTH} wide per second, rusque vs sharp (animated: true)`

/** The pan, frame i a W x H window moved along the photo's diagonal. */
async function pan (sharp, input) {
  const small = await sharp(input).resize(1200).toBuffer()
  const frames = []
  for (let i = 0; i < FRAMES; i++) {
    frames.push(await sharp(small).extract({ left: i * 50, top: i * 30, width: W, height: H }).ensureAlpha().raw().toBuffer())
  }
  const roll = () => sharp(Buffer.concat(frames), { raw: { width: W, height: H * FRAMES, channels: 4, pageHeight: H } })
  const delay = frames.map((_, i) => 40 + 10 * (i % 4))
  return { gif: await roll().gif({ delay, loop: 0 }).toBuffer(), webp: await roll().webp({ delay, loop: 0 }).toBuffer() }
}

async function rgbFrames (sharp, buf) {
  return sharp(buf, { animated: true }).removeAlpha().raw().toBuffer()
}

async function run ({ log, args = [] }) {
  const plan = args.includes('--quick') ? PLANS.quick : PLANS.full
  const sharp = require('sharp')
  const rusque = require(REPO_ROOT)
  sharp.cache(false)
  const inputs = await pan(sharp, readFixture(IMAGE))

  const rows = []
  for (const [from, to] of [['gif', 'gif'], ['webp', 'webp'], ['gif', 'webp']]) {
    const calls = {
      rusque: () => rusque.resize(inputs[from], { animated: true, width: WIDTH, format: to }),
      sharp: () => sharp(inputs[from], { animated: true }).resize(WIDTH).toFormat(to).toBuffer()
    }
    const out = { rusque: await calls.rusque(), sharp: await calls.sharp() }
    const pages = { rusque: (await sharp(out.rusque).metadata()).pages, sharp: (await sharp(out.sharp).metadata()).pages }
    const quality = psnr(await rgbFrames(sharp, out.sharp), await rgbFrames(sharp, out.rusque))
    const c = startContention()
    const ms = { rusque: [], sharp: [] }
    for (let r = 0; r < plan.rounds; r++) {
      for (const lib of ['rusque', 'sharp']) {
        const t0 = performance.now()
        await calls[lib]()
        ms[lib].push(performance.now() - t0)
      }
    }
    const rates = await alternatingRounds(calls, plan, (r, lib, rate) => log(`${from}->${to} round ${r} ${lib}: ${rate.toFixed(2)} img/s`))
    const others = c.stop()
    const row = {
      case: `${from} -> ${to}`,
      'input bytes': inputs[from].length,
      'rusque ms/call': median(ms.rusque).toFixed(0),
      'sharp ms/call': median(ms.sharp).toFixed(0),
      'rusque img/s': median(rates.rusque).toFixed(2),
      'sharp img/s': median(rates.sharp).toFixed(2),
      ratio: (median(rates.rusque) / median(rates.sharp)).toFixed(2),
      'rusque bytes': out.rusque.length,
      'sharp bytes': out.sharp.length,
      frames: `${pages.rusque}/${pages.sharp}`,
      'PSNR vs sharp': quality.toFixed(2),
      'other processes (cores)': others ? others.otherCores.toFixed(2) : 'unknown'
    }
    rows.push(row)
    log(JSON.stringify(row))
  }

  return {
    rows,
    notes: [
      `Input: ${FRAMES} frames of ${W}x${H} (a pan across ${IMAGE} at 1200 wide) written by sharp, delays 40-70 ms, looping.`,
      `ms/call: ${plan.rounds} alternating single calls each. img/s: ${plan.rounds} alternating rounds of ${plan.images} calls, ${plan.concurrency} in flight; medians. Output ${WIDTH} wide, each library's defaults (GIF: 256 colours, dithered; WebP: quality 80).`,
      'PSNR: every frame of rusque\'s output against sharp\'s (RGB, decoded by sharp); GIF palettes differ (rusque: NeuQuant per frame; sharp: libimagequant).',
      `sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, cgif ${sharp.versions.cgif || '?'}, libwebp ${sharp.versions.webp || '?'}.`
    ],
    details: { plan, rows }
  }
}

module.exports = { description, run }
