'use strict'

// Alternating rounds at saturation: each round runs `images` calls of every
// library in turn, `concurrency` in flight, and records images per second.
// Alternating spreads the machine's drift over both libraries alike.

const { performance } = require('node:perf_hooks')

/**
 * `calls` is { library: () => Promise }; returns { library: [rate per round] }.
 * `onRound(round, library, rate)` is told of each round as it ends.
 */
async function alternatingRounds (calls, { rounds, images, concurrency }, onRound = () => {}) {
  const rates = Object.fromEntries(Object.keys(calls).map((lib) => [lib, []]))
  for (let r = 0; r < rounds; r++) {
    for (const lib of Object.keys(calls)) {
      const t0 = performance.now()
      let started = 0
      const lane = async () => {
        while (started < images) {
          started++
          await calls[lib]()
        }
      }
      await Promise.all(Array.from({ length: concurrency }, lane))
      const rate = (images * 1000) / (performance.now() - t0)
      rates[lib].push(rate)
      onRound(r, lib, rate)
    }
  }
  return rates
}

module.exports = { alternatingRounds }
