'use strict'

// An upload pipeline rather than a bare resize (issue 15): crop, rotate a
// quarter turn, resize to 480 wide, sharpen, composite a watermark (a PNG
// with alpha) at the bottom-right corner and encode WebP at quality 75, from
// sharp's 2725x2225 benchmark JPEG. rusque and sharp alternate rounds at
// saturation (8 calls in flight); figures are medians over rounds, with the
// spread, and the outputs' PSNR against each other.

const { REPO_ROOT } = require('../lib/machine')
const { readFixture } = require('../lib/fixtures')
const { psnr } = require('../lib/lanczos')
const { median, max, min } = require('../lib/stats')
const { alternatingRounds } = require('../lib/rounds')

const IMAGE = '2569067123_aca715a2ee_o.jpg'
const EXTRACT = { left: 200, top: 100, width: 2400, height: 2000 }
// EXTRACT of the upright 2725x2225 image, after a clockwise quarter turn.
const ROTATED_EXTRACT = { left: 2225 - (EXTRACT.top + EXTRACT.height), top: EXTRACT.left, width: EXTRACT.height, height: EXTRACT.width }
const WIDTH = 480
const PLANS = { full: { rounds: 7, images: 32, concurrency: 8 }, quick: { rounds: 2, images: 8, concurrency: 8 } }

const description = `${IMAGE} → extract 2400x2000, rotate 90, resize ${WIDTH} wide, sharpen, watermark, WebP q75: rusque vs sharp (alternating rounds at saturation)`

async function run ({ log, args = [] }) {
  const plan = args.includes('--quick') ? PLANS.quick : PLANS.full
  const sharp = require('sharp')
  const rusque = require(REPO_ROOT)
  sharp.cache(false)
  const input = readFixture(IMAGE)
  const mark = await watermark(sharp)
  const overlay = [{ input: mark, gravity: 'southeast' }]
  const calls = {
    rusque: () => rusque.resize(input, { extract: EXTRACT, rotate: 90, width: WIDTH, sharpen: true, composite: overlay, format: 'webp', quality: 75 }),
    // The same crop written in sharp's terms: its extract() applies after the
    // rotation, so the region is given in the rotated image's coordinates.
    sharp: () => sharp(input).rotate(90).extract(ROTATED_EXTRACT).resize({ width: WIDTH }).sharpen().composite(overlay).webp({ quality: 75 }).toBuffer()
  }
  const outputs = {}
  for (const lib of Object.keys(calls)) {
    outputs[lib] = await calls[lib]()
    await Promise.all(Array.from({ length: plan.concurrency }, () => calls[lib]()))
  }
  const raw = async (b) => sharp(b).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const [a, b] = await Promise.all([raw(outputs.rusque), raw(outputs.sharp)])
  if (a.info.width !== b.info.width || a.info.height !== b.info.height) {
    throw new Error(`sizes differ: rusque ${a.info.width}x${a.info.height}, sharp ${b.info.width}x${b.info.height}`)
  }
  const db = psnr(b.data, a.data)
  log(`outputs ${a.info.width}x${a.info.height}; rusque ${outputs.rusque.length} B, sharp ${outputs.sharp.length} B; PSNR ${db.toFixed(1)} dB`)

  const rates = await alternatingRounds(calls, plan, (r, lib, rate) => {
    log(`round ${r + 1}/${plan.rounds} ${lib.padEnd(6)} ${rate.toFixed(1)} img/s`)
  })
  const row = (lib) => {
    const m = median(rates[lib])
    return {
      library: lib,
      'img/s (median)': m.toFixed(1),
      spread: `${(((max(rates[lib]) - min(rates[lib])) / m) * 100).toFixed(0)}%`,
      'output bytes': outputs[lib].length,
      'vs sharp': (m / median(rates.sharp)).toFixed(2) + 'x'
    }
  }
  return {
    rows: [row('rusque'), row('sharp')],
    notes: [`PSNR of rusque's output against sharp's: ${db.toFixed(1)} dB; watermark ${mark.length} B PNG, 160x48 with alpha.`],
    details: { rates, psnr: db, plan }
  }
}

/** A 160x48 watermark PNG with alpha (text on a half-transparent band), rendered once by sharp. */
function watermark (sharp) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="48">
    <rect width="160" height="48" fill="rgb(0,0,60)" fill-opacity="0.4"/>
    <text x="80" y="33" font-family="sans-serif" font-size="26" font-weight="bold" text-anchor="middle" fill="white" fill-opacity="0.85">rusque</text>
  </svg>`
  return sharp(Buffer.from(svg)).png().toBuffer()
}

module.exports = { description, run, watermark }
