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

/**
 * The probe's gaps over `ms` while another thread wakes the JS thread
 * `perSecond` times a second with an empty message, and nothing else runs:
 * the floor under the gaps of any workload that wakes the loop that often (a
 * call's completion, say). libuv keeps the loop's clock in whole milliseconds,
 * so a timer whose turn comes just after the loop woke for something else
 * waits for the next poll timeout, up to a millisecond more.
 */
async function probeWithWakeups (perSecond, ms) {
  const { Worker } = require('node:worker_threads')
  // Atomics.wait sleeps for fractions of a millisecond, where a timer would not.
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const cell = new Int32Array(new SharedArrayBuffer(4))
    for (;;) {
      Atomics.wait(cell, 0, 0, ${1000 / perSecond})
      parentPort.postMessage(0)
    }`, { eval: true })
  worker.on('message', () => {})
  await new Promise((resolve, reject) => { worker.once('online', resolve); worker.once('error', reject) })
  const probe = startLoopProbe()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const gaps = probe.stop()
  await worker.terminate()
  return gaps
}

module.exports = { startLoopProbe, probeWithWakeups, INTERVAL_MS }
