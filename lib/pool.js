'use strict'

// The bridge to the Rust pool. One Runtime per JS environment; completions
// come back in batches through its threadsafe function. `submit` takes a
// prepared job and a `done(err, value)` callback, so the direct functions and
// JobQueue share one path with no extra promise per job.

const binding = require('./load').load()
const { RusqueError, makeError, invalidArg, abortError, fromNative, codes } = require('./errors')
const opts = require('./args')
const debug = require('./debug')
const dc = require('node:diagnostics_channel')

// APM tools subscribe to tracingChannel('rusque:task') (Node's convention:
// start, end, asyncStart, asyncEnd, error) with { task, options, inputBytes }.
// Nothing is made or published for a call while nobody subscribes.
const taskChannel = dc.tracingChannel('rusque:task')
const TASK_NAMES = ['resize', 'metadata', 'hash']
const traceCounts = { contexts: 0 } // test hook: trace contexts ever made

const KIND_RESIZE = 0
const KIND_METADATA = 1
const KIND_HASH = 2
const TASKS = { resize: KIND_RESIZE, metadata: KIND_METADATA, hash: KIND_HASH }

let runtime = null
const pending = new Map()
// Resizes the memory budget parked (their input not copied yet): id -> { job, cancellable, cancelled }.
const parked = new Map()
const ADMITTED = 'RUSQUE_ADMITTED' // a batch entry's code for "the budget admitted a parked job"
let nextId = 0
let holds = 0 // pending native jobs plus outside holders (queues with waiting work)
let active = false

function getRuntime () {
  if (runtime === null) {
    runtime = new binding.Runtime(onBatch)
    debug('runtime started (pool: %j)', binding.poolInfo())
  }
  return runtime
}

function updateActive () {
  const want = holds > 0
  if (want !== active) {
    active = want
    getRuntime().setActive(want)
  }
}

/** Keeps the process alive while something outside the pool is waiting. */
function hold () { holds++; updateActive() }
function release () { holds--; updateActive() }

/**
 * Hands one completion to its owner. Nothing thrown here may escape: it would
 * end the batch (and with it other jobs' completions) or, thrown again on a
 * later tick, the process. Owners settle their promise before anything that
 * may throw (a listener of theirs); what still throws is reported by
 * `reportError`, never rethrown.
 */
function deliver (done, err, value) {
  if (done instanceof Traced) {
    deliverTraced(done, err, value)
    return
  }
  try {
    // `done` is a callback, or an object with complete() (JobQueue's jobs).
    if (typeof done === 'function') done(err, value)
    else done.complete(err, value)
  } catch (thrown) {
    reportError(thrown)
  }
}

/** A job's owner, wrapped while someone subscribes to rusque:task. */
class Traced {
  constructor (ctx, done) {
    this.ctx = ctx
    this.done = done
  }
}

/** The trace context for a prepared job, or null with no subscriber. */
function traceContext (job) {
  if (!taskChannel.hasSubscribers) return null
  traceCounts.contexts++
  return { task: TASK_NAMES[job.kind], options: job.options, inputBytes: job.bytes.byteLength }
}

function deliverTraced (traced, err, value) {
  const ctx = traced.ctx
  if (err) {
    ctx.error = err
    taskChannel.error.publish(ctx)
  } else {
    ctx.result = value
  }
  taskChannel.asyncStart.runStores(ctx, () => {
    try {
      deliver(traced.done, err, value)
    } finally {
      taskChannel.asyncEnd.publish(ctx)
    }
  })
}

/**
 * A listener's or callback's exception during a completion, reported as a
 * process warning (code RUSQUE_CALLBACK_THREW, the exception as its cause),
 * never thrown.
 */
function reportError (err) {
  try {
    let what
    try { what = err instanceof Error ? `${err.name}: ${err.message}` : String(err) } catch { what = 'a value' }
    const warning = new Error(`a callback or listener threw during a rusque completion (the job itself settled): ${what}`, { cause: err })
    warning.name = 'RusqueWarning'
    warning.code = 'RUSQUE_CALLBACK_THREW'
    process.emitWarning(warning)
  } catch {}
}

/**
 * A parked job the budget admitted: its input goes to the pool now, unless
 * it was cancelled or its bytes became unreadable while it waited. Returns a
 * completion ([id, code, message]) for a job that will not run, else null.
 */
function admit (id) {
  const p = parked.get(id)
  parked.delete(id)
  if (p === undefined) return null
  if (p.cancelled) {
    runtime.dropAdmitted(id, true)
    const err = abortError()
    return [id, codes.ABORT_ERR, err.message]
  }
  let err = unreadable(p.job)
  if (err === null) {
    try {
      runtime.runAdmitted(id, p.job.bytes, p.job.arg, p.cancellable)
      return null
    } catch (thrown) {
      err = fromNative(thrown)
    }
  }
  runtime.dropAdmitted(id, false)
  return [id, err.code, err.message]
}

function onBatch (batch) {
  let refused = null
  for (let i = 0; i < batch.length; i += 3) {
    const id = batch[i]
    if (batch[i + 1] === ADMITTED) {
      const entry = admit(id)
      if (entry !== null) (refused ??= []).push(...entry)
      continue
    }
    const done = pending.get(id)
    if (done === undefined) continue
    pending.delete(id)
    holds--
    const code = batch[i + 1]
    const err = code === null ? null : makeError(code, batch[i + 2])
    const value = code === null ? batch[i + 2] : undefined
    deliver(done, err, value)
  }
  if (refused !== null) onBatch(refused)
  else updateActive()
}

// The spec's option names and algorithms (crates/core/src/spec), read once:
// the hash hot path checks a plain { algorithm } here, with no JSON.
const spec = binding.specInfo()
const HASH_KEYS = new Set([...spec.tasks.find((t) => t.task === 'hash').fields, ...opts.JS_ONLY])
const ALGORITHMS = new Set(spec.choices.find((c) => c.name === 'algorithm').values)

/** The task's options parsed by the spec (a TaskSpec); throws its ERR_INVALID_ARG. */
function parseSpec (task, json, buffers) {
  try {
    return new binding.TaskSpec(task, json, buffers)
  } catch (err) {
    throw fromNative(err)
  }
}

/** The signal of an options object, if any. */
function signalOf (options) {
  return options !== null && typeof options === 'object' ? opts.checkSignal(options.signal) : undefined
}

/** A hash algorithm's name for the pool (undefined: the default). */
function algorithmOf (algorithm) {
  if (algorithm === undefined || algorithm === null) return undefined
  if (typeof algorithm === 'string' && ALGORITHMS.has(algorithm)) return algorithm
  // Anything else (another case, a typo, another type): the spec decides, with its message.
  parseSpec('hash', opts.toJson({ algorithm }))
  return algorithm
}

/** hash()'s options: the algorithm's name, or { algorithm, signal }. */
function hashOptions (options) {
  if (options === null || typeof options !== 'object') return { algorithm: algorithmOf(options), signal: undefined }
  for (const k of Object.keys(options)) {
    if (!HASH_KEYS.has(k)) parseSpec('hash', opts.optionsJson(options)) // throws: unknown option
  }
  return { algorithm: algorithmOf(options.algorithm), signal: opts.checkSignal(options.signal) }
}

/**
 * Validates a task's arguments into a prepared job: { kind, bytes, arg, signal }.
 * The options are the spec's (Rust); JS checks only the bytes and the signal.
 * Throws ERR_INVALID_ARG.
 */
function prepare (task, input, taskOptions) {
  const kind = typeof task === 'string' && Object.hasOwn(TASKS, task) ? TASKS[task] : undefined
  if (kind === undefined) {
    throw invalidArg(`unknown task ${opts.describe(task)}: use one of ${Object.keys(TASKS).join(', ')}`)
  }
  if (kind === KIND_RESIZE) {
    const { arg, signal } = opts.readArg('options', () => {
      const buffers = []
      const json = opts.optionsJson(taskOptions, buffers)
      return { arg: parseSpec('resize', json, buffers), signal: signalOf(taskOptions) }
    })
    return { kind, bytes: opts.readArg('input', () => opts.imageBytes(input)), arg, signal, options: taskOptions }
  }
  if (kind === KIND_METADATA) {
    const signal = opts.readArg('options', () => {
      const json = opts.optionsJson(taskOptions)
      if (json !== 'null' && json !== '{}') parseSpec('metadata', json) // metadata takes no options: throws
      return signalOf(taskOptions)
    })
    return { kind, bytes: opts.readArg('input', () => opts.imageBytes(input)), arg: undefined, signal, options: taskOptions }
  }
  return prepareHash(input, taskOptions)
}

/**
 * prepare('hash', ...), the hot path of tiny jobs: no closure, and no
 * options object read when none is given.
 */
function prepareHash (input, taskOptions) {
  let algorithm, signal
  if (taskOptions === undefined || taskOptions === null) {
    algorithm = undefined
    signal = undefined
  } else {
    ({ algorithm, signal } = opts.readArg('options', () => hashOptions(taskOptions)))
  }
  let bytes
  try {
    bytes = opts.toBytes(input)
  } catch (err) {
    throw opts.argError('input', err)
  }
  return { kind: KIND_HASH, bytes, arg: algorithm, signal, options: taskOptions }
}

function nextJobId () {
  nextId = (nextId + 1) >>> 0
  return nextId
}

// A submitted job waits here for its completion and keeps the process alive.
function track (id, done) {
  pending.set(id, done)
  holds++
}

/**
 * The error for a prepared job whose bytes can no longer be read (its
 * ArrayBuffer was detached while it waited in a queue), else null.
 */
function unreadable (job) {
  return job.bytes.byteLength === 0 && opts.isDetached(job.bytes.buffer)
    ? invalidArg("input's ArrayBuffer was detached (transferred) after the job was added: pass bytes this thread keeps until the job settles")
    : null
}

/**
 * Sends a prepared job to the pool; returns its id. `done` is (err, value) => void
 * or { complete(err, value) }. Never throws: a job that cannot be sent
 * completes with its error on a later microtask, like any other failure.
 */
function submit (job, cancellable, done) {
  const ctx = traceContext(job)
  if (ctx !== null) {
    const traced = new Traced(ctx, done)
    const id = taskChannel.start.runStores(ctx, () => send(job, cancellable, traced))
    taskChannel.end.publish(ctx)
    return id
  }
  return send(job, cancellable, done)
}

function send (job, cancellable, done) {
  const rt = getRuntime()
  const id = nextJobId()
  let err = unreadable(job)
  if (err === null) {
    try {
      if (job.kind === KIND_RESIZE) {
        if (!rt.submitResize(id, job.bytes, job.arg, cancellable)) parked.set(id, { job, cancellable, cancelled: false })
      } else if (job.kind === KIND_HASH) rt.submitHash(id, job.bytes, job.arg, cancellable)
      else rt.submitMetadata(id, job.bytes, cancellable)
    } catch (thrown) {
      err = fromNative(thrown)
    }
  }
  track(id, done)
  if (err !== null) queueMicrotask(() => onBatch([id, err.code, err.message]))
  updateActive()
  return id
}

/** Many hash jobs with one algorithm in a single crossing. */
function submitHashMany (jobs, algorithm, dones) {
  let ctxs = null
  if (taskChannel.hasSubscribers) {
    ctxs = jobs.map(traceContext)
    dones = dones.map((done, i) => new Traced(ctxs[i], done))
    for (const ctx of ctxs) taskChannel.start.publish(ctx)
  }
  const ids = sendHashMany(jobs, algorithm, dones)
  if (ctxs !== null) for (const ctx of ctxs) taskChannel.end.publish(ctx)
  return ids
}

function sendHashMany (jobs, algorithm, dones) {
  const rt = getRuntime()
  const ids = new Array(jobs.length)
  const inputs = []
  const sent = []
  const refused = []
  for (let i = 0; i < jobs.length; i++) {
    ids[i] = nextJobId()
    const err = unreadable(jobs[i])
    if (err === null) {
      sent.push(ids[i])
      inputs.push(jobs[i].bytes)
    } else {
      refused.push(ids[i], err.code, err.message)
    }
  }
  try {
    if (sent.length > 0) rt.submitHashMany(sent, inputs, algorithm)
  } catch (thrown) {
    const err = fromNative(thrown)
    for (const id of sent) refused.push(id, err.code, err.message)
  }
  for (let i = 0; i < jobs.length; i++) track(ids[i], dones[i])
  if (refused.length > 0) queueMicrotask(() => onBatch(refused))
  updateActive()
  return ids
}

/** Asks the pool to stop a job at its next checkpoint. Its completion still arrives. */
function cancel (id) {
  const p = parked.get(id)
  if (p !== undefined) p.cancelled = true
  else if (runtime !== null) runtime.cancel(id)
}

/** Runs one prepared job and returns a promise, honouring its AbortSignal. */
function run (job) {
  return new Promise((resolve, reject) => {
    const signal = job.signal
    if (signal && signal.aborted) {
      reject(abortError(signal))
      return
    }
    let settled = false
    let onAbort
    const id = submit(job, signal !== undefined, (err, value) => {
      // Settle first: nothing after this may keep the promise pending.
      if (!settled) {
        settled = true
        if (err) reject(err)
        else resolve(value)
      }
      if (signal) signal.removeEventListener('abort', onAbort)
    })
    if (signal) {
      onAbort = () => {
        if (settled) return
        settled = true
        cancel(id)
        reject(abortError(signal))
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}

function call (task, input, taskOptions) {
  let job
  try {
    job = prepare(task, input, taskOptions)
  } catch (err) {
    return Promise.reject(err)
  }
  return run(job)
}

function submitPanic () {
  return new Promise((resolve, reject) => {
    const id = nextJobId()
    getRuntime()._submitPanic(id)
    track(id, (err, v) => (err ? reject(err) : resolve(v)))
    updateActive()
  })
}

/**
 * Replaces the pool: { threads, nice }. The ranges (threads 1 to 256, nice 0
 * to 19) are the core's (pool::MAX_THREADS); here only the types are checked,
 * so that no value is truncated on its way to Rust.
 */
function configure (options = {}) {
  if (options === null || typeof options !== 'object') throw invalidArg('configure() takes an object: { threads, nice }')
  const { threads, nice } = opts.readArg('options', () => ({ threads: options.threads, nice: options.nice }))
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 0xffffffff)) {
    throw invalidArg(`threads must be a positive integer, got ${opts.describe(threads)}`)
  }
  if (nice !== undefined && (!Number.isInteger(nice) || nice < 0 || nice > 0x7fffffff)) {
    throw invalidArg(`nice must be an integer from 0 to 19, got ${opts.describe(nice)}`)
  }
  const memoryBudget = opts.readArg('options', () => options.memoryBudget)
  if (memoryBudget !== undefined && !(memoryBudget === Infinity || (Number.isSafeInteger(memoryBudget) && memoryBudget >= 0))) {
    throw invalidArg(`memoryBudget must be a number of bytes (an integer >= 0; 0 or Infinity for no budget), got ${opts.describe(memoryBudget)}`)
  }
  let info
  try {
    info = binding.configure(threads, nice)
  } catch (err) {
    throw fromNative(err)
  }
  if (memoryBudget !== undefined) binding.setMemoryBudget(memoryBudget === Infinity ? 0 : memoryBudget)
  debug('pool configured: %j%s', info, memoryBudget === undefined ? '' : `, memory budget ${memoryBudget} bytes`)
  poolThreads = info.threads
  return info
}

let poolThreads = null // the pool's size, read once and kept by configure()

/**
 * Whether the pool has a thread free for one more task: fewer tasks
 * submitted and not yet completed (calls, JobQueue jobs, parked resizes)
 * than threads. remote({ spill: true }) asks it before each call.
 */
function hasRoom () {
  if (poolThreads === null) poolThreads = binding.poolInfo().threads
  return pending.size < poolThreads
}

/** The pool's configuration only ({ threads, nice }); poolInfo() is lib/metrics.js. */
function poolConfig () {
  return binding.poolInfo()
}

module.exports = {
  prepare, submit, submitHashMany, cancel, run, call, hold, release, configure, poolConfig, hasRoom, submitPanic, reportError, traceCounts,
  KIND_HASH, KIND_RESIZE, KIND_METADATA
}
