'use strict'

// Event-loop responsiveness as a server would feel it: a 1 ms setInterval on
// the JS thread, recording the time between consecutive ticks. On an idle
// loop the gaps sit just above 1 ms; anything that holds the JS thread (a
// synchronous decode, a flood of completions) shows up as a long gap.

const { performance } = require('node:perf_hooks')

const INTERVAL_MS = 1

/** Starts the probe; `stop()` clears the timer and returns the gaps in ms. */
function startLoopProbe () {
  const gaps = []
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    gaps.push(now - last)
    last = now
  }, INTERVAL_MS)
  let stopped = false
  return {
    stop () {
      if (!stopped) {
        stopped = true
        clearInterval(timer)
        // The stretch since the last tick counts too: a probe stopped right
        // after a long block must still see that block.
        gaps.push(performance.now() - last)
      }
      return gaps
    }
  }
}

module.exports = { startLoopProbe, INTERVAL_MS }
