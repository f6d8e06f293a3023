'use strict'

// One job, start to finish, with node-resque's semantics:
// - unknown class → failure `No job defined for class "<name>"`;
// - beforePerform plugins may veto (the job is dropped: neither success nor failure);
// - perform(...args) with `this` bound to the worker (or the slot's view of it),
//   object args frozen;
// - afterPerform plugins run even when perform threw, and may clear the error
//   (Retry and Noop do, through `worker.error`).
// Knows nothing of Redis: the caller claims and acknowledges.

const { runPlugins } = require('./plugins')

/**
 * Resolves (never rejects) to { outcome: 's' | 'f' | 'n', queue, job, result, error, duration }.
 */
async function performJob (ctx, queue, raw) {
  const startedAt = Date.now()
  let job = null
  ctx.queue = queue
  ctx.error = null
  ctx.result = null
  try {
    job = JSON.parse(raw)
  } catch (err) {
    const error = new Error(`Invalid queue entry: ${err.message}`)
    error.name = 'InvalidPayload'
    return { outcome: 'f', queue, job: raw, result: null, error, duration: 0 }
  }
  if (job === null || typeof job !== 'object' || typeof job.class !== 'string') {
    const error = new Error('Invalid queue entry: not a JSON object with a "class" string')
    error.name = 'InvalidPayload'
    return { outcome: 'f', queue, job, result: null, error, duration: 0 }
  }
  ctx.job = job
  const outcome = await run(ctx, queue, job)
  return { outcome, queue, job, result: ctx.result, error: ctx.error, duration: Date.now() - startedAt }
}

async function run (ctx, queue, job) {
  const definition = ctx.jobs[job.class]
  if (!definition) {
    ctx.error = new Error(`No job defined for class "${job.class}"`)
    return 'f'
  }
  const perform = definition.perform
  if (typeof perform !== 'function') {
    ctx.error = new Error(`Missing Job: "${job.class}"`)
    return 'f'
  }
  ctx._emitSafe('job', queue, job)

  const args = job.args
  const hasPlugins = definition.plugins && definition.plugins.length > 0
  let triedAfter = false
  try {
    if (hasPlugins && (await runPlugins(ctx, 'beforePerform', job.class, queue, definition, args)) === false) {
      return ctx.error ? 'f' : 'n'
    }
    const callArgs = args === undefined || Array.isArray(args) ? args : [args]
    if (callArgs) {
      for (let i = 0; i < callArgs.length; i++) {
        const a = callArgs[i]
        if (typeof a === 'object' && a !== null) Object.freeze(a)
      }
    }
    let result = perform.apply(ctx, callArgs)
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') result = await result
    ctx.result = result
    triedAfter = true
    if (hasPlugins) await runPlugins(ctx, 'afterPerform', job.class, queue, definition, args)
    return ctx.error ? 'f' : 's'
  } catch (err) {
    ctx.error = err
    if (!triedAfter && hasPlugins) {
      try {
        await runPlugins(ctx, 'afterPerform', job.class, queue, definition, args)
      } catch (afterErr) {
        if (afterErr && !ctx.error) ctx.error = afterErr
      }
    }
    return ctx.error ? 'f' : 's'
  }
}

/** Runs a job directly, without Redis: plugins run, errors are thrown, nothing is recorded. */
async function performInline (worker, func, args = []) {
  const queue = '_direct-queue-' + worker.name
  if (!Array.isArray(args)) args = [args]
  const definition = worker.jobs[func]
  if (!definition) throw new Error(`No job defined for class "${func}"`)
  if (typeof definition.perform !== 'function') throw new Error(`Missing Job: "${func}"`)
  worker.error = null
  let triedAfter = false
  try {
    if ((await runPlugins(worker, 'beforePerform', func, queue, definition, args)) === false) return
    worker.result = await definition.perform.apply(worker, args)
    triedAfter = true
    await runPlugins(worker, 'afterPerform', func, queue, definition, args)
    return worker.result
  } catch (err) {
    worker.error = err
    if (!triedAfter) {
      try {
        await runPlugins(worker, 'afterPerform', func, queue, definition, args)
      } catch (afterErr) {
        if (afterErr && !worker.error) worker.error = afterErr
      }
    }
    if (worker.error) throw worker.error
  }
}

module.exports = { performJob, performInline }
