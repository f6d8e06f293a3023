'use strict'

// Each image operation beside sharp doing the same thing (issue 15): sharp's
// 2725x2225 benchmark JPEG resized to 720 wide, JPEG q80, plus one operation
// per row (the first row is the resize alone, so each operation's own cost is
// the distance to it). rusque and sharp alternate rounds at saturation;
// figures are medians over rounds with the spread, and each row's PSNR of
// rusque's output against sharp's.

const { REPO_ROOT } = require('../lib/machine')
const { readFixture } = require('../lib/fixtures')
const { psnr } = require('../lib/lanczos')
const { median, max, min } = require('../lib/stats')
const { alternatingRounds } = require('../lib/rounds')
const { watermark } = require('./pipeline')

const IMAGE = '2569067123_aca715a2ee_o.jpg'
const WIDTH = 720
const PLANS = { full: { rounds: 5, images: 24, concurrency: 8 }, quick: { rounds: 2, images: 8, concurrency: 8 } }

const description = `${IMAGE} → ${WIDTH} wide JPEG q80 plus one operation per row: rusque vs sharp (alternating rounds at saturation)`

/** [name, rusque's options, sharp's chain after resize-able input] */
function operations (mark) {
  const region = { left: 300, top: 200, width: 2000, height: 1600 }
  return [
    ['resize only', {}, (s) => s.resize({ width: WIDTH })],
    ['extract', { extract: region }, (s) => s.extract(region).resize({ width: WIDTH })],
    ['rotate 90', { rotate: 90 }, (s) => s.rotate(90).resize({ width: WIDTH })],
    ['rotate 30', { rotate: 30, background: '#000000' }, (s) => s.rotate(30, { background: '#000000' }).resize({ width: WIDTH })],
    ['flip', { flip: true }, (s) => s.flip().resize({ width: WIDTH })],
    ['flop', { flop: true }, (s) => s.flop().resize({ width: WIDTH })],
    ['blur sigma 2', { blur: 2 }, (s) => s.resize({ width: WIDTH }).blur(2)],
    ['sharpen (mild)', { sharpen: true }, (s) => s.resize({ width: WIDTH }).sharpen()],
    ['sharpen (mask, sigma 1)', { sharpen: { sigma: 1 } }, (s) => s.resize({ width: WIDTH }).sharpen({ sigma: 1 })],
    ['greyscale', { greyscale: true }, (s) => s.resize({ width: WIDTH }).greyscale().toColourspace('srgb')],
    ['composite (watermark)', { composite: [{ input: mark, gravity: 'southeast' }] }, (s) => s.resize({ width: WIDTH }).composite([{ input: mark, gravity: 'southeast' }])]
  ]
}

async function run ({ log, args = [] }) {
  const plan = args.includes('--quick') ? PLANS.quick : PLANS.full
  const sharp = require('sharp')
  const rusque = require(REPO_ROOT)
  sharp.cache(false)
  const input = readFixture(IMAGE)
  const mark = await watermark(sharp)
  const raw = async (b) => sharp(b).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const rows = []
  const details = {}
  for (const [name, opts, chain] of operations(mark)) {
    const calls = {
      rusque: () => rusque.resize(input, { width: WIDTH, ...opts, format: 'jpeg', quality: 80 }),
      sharp: () => chain(sharp(input)).jpeg({ quality: 80 }).toBuffer()
    }
    const [a, b] = await Promise.all([calls.rusque().then(raw), calls.sharp().then(raw)])
    if (a.info.width !== b.info.width || a.info.height !== b.info.height) {
      throw new Error(`${name}: sizes differ: rusque ${a.info.width}x${a.info.height}, sharp ${b.info.width}x${b.info.height}`)
    }
    const db = psnr(b.data, a.data)
    const rates = await alternatingRounds(calls, plan)
    const spread = (v) => `${(((max(v) - min(v)) / median(v)) * 100).toFixed(0)}%`
    const [mr, ms] = [median(rates.rusque), median(rates.sharp)]
    log(`${name}: rusque ${mr.toFixed(1)} img/s, sharp ${ms.toFixed(1)} img/s, PSNR ${db.toFixed(1)} dB`)
    rows.push({
      operation: name,
      'rusque img/s': mr.toFixed(1),
      'rusque spread': spread(rates.rusque),
      'sharp img/s': ms.toFixed(1),
      'sharp spread': spread(rates.sharp),
      'vs sharp': (mr / ms).toFixed(2) + 'x',
      'PSNR vs sharp': `${db.toFixed(1)} dB`
    })
    details[name] = { rates, psnr: db }
  }
  return {
    rows,
    notes: [
      `${plan.rounds} rounds of ${plan.images} images per library and row, ${plan.concurrency} calls in flight; output ${WIDTH} wide JPEG q80.`,
      'The PSNR of the resize alone bounds every row\'s: the two resamplers differ slightly; sharpening amplifies that difference (docs/api.md).'
    ],
    details: { details, plan }
  }
}

module.exports = { description, run }
