'use strict'

// The resize pipeline's stages, each timed alone on one thread, beside the
// end-to-end figures: how far a call (and saturation) is from the sum of its
// parts. The stages come from the native `__benchStages` (src/bench.rs, for
// benchmarks only: it blocks the JS thread while it runs); the JS-thread part
// of a call and the completion's delivery are timed here.

const { performance } = require('node:perf_hooks')
const { median } = require('./stats')

const STAGES = [
  ['header', 'header read and plan'],
  ['decode', 'decode (entropy, IDCT, upsampling; YCbCr out)'],
  ['colour', 'colour conversion (RGB decode − YCbCr decode; ≤ 0: cheaper than the YCbCr copy)'],
  ['orient', 'orient'],
  ['resample', 'resample (fast_image_resize)'],
  ['profile', 'ICC profile → sRGB'],
  ['embed', 'embed / flatten'],
  ['encode', 'encode']
]

/**
 * { stages (ms per stage), callMs (JS-thread time of one resize() call until
 * it returns its promise), deliveryMs (a tiny job's round trip minus its own
 * call: pool hand-off, wake-up, completion batch, promise settlement) }.
 */
async function measureStages (rusque, input, options, { reps = 15, calls = 40, roundTrips = 400 } = {}) {
  const binding = require('../../lib/load').load()
  const spec = new binding.TaskSpec('resize', JSON.stringify(options))
  const stages = binding.__benchStages(input, spec, reps)

  const call = []
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now()
    const p = rusque.resize(input, options)
    call.push(performance.now() - t0)
    await p
  }
  const tiny = Buffer.alloc(1)
  const trip = []
  const tinyCall = []
  for (let i = 0; i < roundTrips; i++) {
    const t0 = performance.now()
    const p = rusque.hash(tiny)
    const t1 = performance.now()
    await p
    trip.push(performance.now() - t0)
    tinyCall.push(t1 - t0)
  }
  return { stages, callMs: median(call), deliveryMs: Math.max(0, median(trip) - median(tinyCall)) }
}

/**
 * Table rows: each stage, their sum with the call's own costs, and the
 * distance of the measured single call and saturation from that sum.
 * `single`: median single-call latency (ms); `perSec`: images/s at
 * saturation; `threads`: the pool's threads.
 */
function stageRows ({ stages, callMs, deliveryMs }, { single, perSec, threads }) {
  const fmt = (x) => x.toFixed(Math.abs(x) < 0.1 ? 3 : 2)
  const rows = []
  let sum = 0
  for (const [key, name] of STAGES) {
    const ms = stages[key]
    sum += ms
    const label = key === 'decode' ? `${name}, scale ${stages.dctScale}/8` : name
    rows.push({ id: `stage.${key}`, metric: `stage: ${label}`, rusque: fmt(ms) })
  }
  // Inside `encode` already, so not added to the sum: with the decoder's
  // figure above, what keeping YCbCr from decoder to encoder would save.
  rows.push({ id: 'stage.encodeColour', metric: 'within encode: colour conversion (RGB-in encode − YCbCr-in encode; ≤ 0: cheaper than the YCbCr copy)', rusque: fmt(stages.encodeColour) })
  rows.push({ id: 'stage.call', metric: 'stage: JS-thread call (validate, submit)', rusque: fmt(callMs) })
  rows.push({ id: 'stage.delivery', metric: 'stage: completion delivery (tiny job round trip minus its call)', rusque: fmt(deliveryMs) })
  const total = sum + callMs + deliveryMs
  rows.push({ id: 'stage.sum', metric: 'sum of stages (ms)', rusque: fmt(total) })
  rows.push({ id: 'stage.pipeline', metric: 'pipeline on one thread, no pool (ms)', rusque: fmt(stages.pipeline), ratio: `${(stages.pipeline / sum).toFixed(2)}x stages` })
  rows.push({ id: 'stage.single', metric: 'single call vs sum of stages', rusque: fmt(single), ratio: `${(single / total).toFixed(2)}x sum` })
  const ideal = (threads * 1000) / sum
  rows.push({ id: 'stage.saturation', metric: `saturation vs ${threads} threads × stages (images/s)`, rusque: `${perSec.toFixed(1)} / ${ideal.toFixed(1)}`, ratio: `${(perSec / ideal).toFixed(2)}x ideal` })
  return rows
}

module.exports = { measureStages, stageRows }
