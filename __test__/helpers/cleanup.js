'use strict'

// Teardown that survives a setup which failed partway. A `before` hook that
// throws leaves later variables undefined; an `after` hook written as
// `await worker.end(); await redisServer.close()` then throws on the first
// line and never reaches the rest, and the Redis server, its connections and
// child processes it left open keep the test file's process alive for good.
//
//   after(() => cleanup(
//     () => worker?.end(),
//     () => queue?.end(),
//     () => redisServer?.close()
//   ))
//
// Every step runs, in order, whatever the steps before it did; each gets
// `timeoutMs` (a step that hangs is abandoned, so the ones after it still
// run). Errors are collected and thrown once all steps ran, so a broken
// teardown still fails the file.

const STEP_TIMEOUT_MS = 10000

async function cleanup (...steps) {
  const errors = []
  for (const step of steps) {
    let timer
    try {
      await Promise.race([
        Promise.resolve().then(step),
        new Promise((resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`cleanup step did not finish in ${STEP_TIMEOUT_MS} ms: ${step}`)), STEP_TIMEOUT_MS)
          timer.unref()
        })
      ])
    } catch (err) {
      errors.push(err)
    } finally {
      clearTimeout(timer)
    }
  }
  if (errors.length === 1) throw errors[0]
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanup steps failed`)
}

module.exports = { cleanup, STEP_TIMEOUT_MS }
