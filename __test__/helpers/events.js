'use strict'

/** Resolves with the arguments of the next `event` (optionally one matching `filter`), or rejects after ms. */
function nextEvent (emitter, event, { ms = 10000, filter } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on)
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`))
    }, ms)
    function on (...args) {
      if (filter && !filter(...args)) return
      clearTimeout(timer)
      emitter.off(event, on)
      resolve(args)
    }
    emitter.on(event, on)
  })
}

/** Collects `n` events' argument lists. */
function collect (emitter, event, n, { ms = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const got = []
    const timer = setTimeout(() => {
      emitter.off(event, on)
      reject(new Error(`timed out after ${ms} ms with ${got.length} of ${n} '${event}' events`))
    }, ms)
    function on (...args) {
      got.push(args)
      if (got.length === n) {
        clearTimeout(timer)
        emitter.off(event, on)
        resolve(got)
      }
    }
    emitter.on(event, on)
  })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor (fn, { ms = 10000, every = 25, what = 'condition' } = {}) {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(every)
  }
}

module.exports = { nextEvent, collect, sleep, waitFor }
