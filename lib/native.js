'use strict'

// The bridge to the Rust pool. One Runtime per JS environment; completions
// come back in batches through its threadsafe function. `submit` takes a
// prepared job and a `done(err, value)` callback, so the direct functions and
// JobQueue share one path with no extra promise per job.

const binding = require('./load').load()
const { makeError, invalidArg, abortError } = require('./errors')
const opts = require('./options')

const KIND_RESIZE = 0
const KIND_METADATA = 1
const KIND_HASH = 2
const TASKS = { resize: KIND_RESIZE, metadata: KIND_METADATA, hash: KIND_HASH }

let runtime = null
const pending = new Map()
let nextId = 0
let holds = 0 // pending native jobs plus outside holders (queues with waiting work)
let active = false

function getRuntime () {
  if (runtime === null) runtime = new binding.Runtime(onBatch)
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

function onBatch (batch) {
  for (let i = 0; i < batch.length; i += 3) {
    const id = batch[i]
    const done = pending.get(id)
    if (done === undefined) continue
    pending.delete(id)
    holds--
    const code = batch[i + 1]
    const err = code === null ? null : makeError(code, batch[i + 2])
    const value = code === null ? batch[i + 2] : undefined
    try {
      // `done` is a callback, or an object with complete() (JobQueue's jobs).
      if (typeof done === 'function') done(err, value)
      else done.complete(err, value)
    } catch (err) {
      // A throwing callback must not drop the rest of the batch.
      process.nextTick(() => { throw err })
    }
  }
  updateActive()
}

/**
 * Validates a task's arguments into a prepared job: { kind, bytes, arg, signal }.
 * Throws ERR_INVALID_ARG.
 */
function prepare (task, input, taskOptions) {
  const kind = TASKS[task]
  if (kind === undefined) {
    throw invalidArg(`unknown task ${opts.describe(task)}: use one of ${Object.keys(TASKS).join(', ')}`)
  }
  if (kind === KIND_RESIZE) {
    const { native, signal } = opts.resizeOptions(taskOptions)
    return { kind, bytes: opts.imageBytes(input), arg: native, signal }
  }
  if (kind === KIND_METADATA) {
    const signal = taskOptions && typeof taskOptions === 'object' ? opts.checkSignal(taskOptions.signal) : undefined
    return { kind, bytes: opts.imageBytes(input), arg: undefined, signal }
  }
  let algorithm = taskOptions
  let signal
  if (taskOptions && typeof taskOptions === 'object') {
    algorithm = taskOptions.algorithm
    signal = opts.checkSignal(taskOptions.signal)
  }
  return { kind, bytes: opts.toBytes(input), arg: opts.hashAlgorithm(algorithm), signal }
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

/** Sends a prepared job to the pool; returns its id. `done` is (err, value) => void or { complete(err, value) }. */
function submit (job, cancellable, done) {
  const rt = getRuntime()
  const id = nextJobId()
  if (job.kind === KIND_RESIZE) rt.submitResize(id, job.bytes, job.arg, cancellable)
  else if (job.kind === KIND_HASH) rt.submitHash(id, job.bytes, job.arg, cancellable)
  else rt.submitMetadata(id, job.bytes, cancellable)
  track(id, done)
  updateActive()
  return id
}

/** Many hash jobs with one algorithm in a single crossing. */
function submitHashMany (jobs, algorithm, dones) {
  const rt = getRuntime()
  const ids = new Array(jobs.length)
  const inputs = new Array(jobs.length)
  for (let i = 0; i < jobs.length; i++) {
    ids[i] = nextJobId()
    inputs[i] = jobs[i].bytes
  }
  rt.submitHashMany(ids, inputs, algorithm)
  for (let i = 0; i < jobs.length; i++) track(ids[i], dones[i])
  updateActive()
  return ids
}

/** Asks the pool to stop a job at its next checkpoint. Its completion still arrives. */
function cancel (id) {
  if (runtime !== null) runtime.cancel(id)
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
      if (signal) signal.removeEventListener('abort', onAbort)
      if (settled) return
      settled = true
      if (err) reject(err)
      else resolve(value)
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

function configure (options = {}) {
  if (options === null || typeof options !== 'object') throw invalidArg('configure() takes an object: { threads, nice }')
  const { threads, nice } = options
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw invalidArg(`threads must be an integer from 1 to 1024, got ${opts.describe(threads)}`)
  }
  if (nice !== undefined && (!Number.isInteger(nice) || nice < 0 || nice > 19)) {
    throw invalidArg(`nice must be an integer from 0 to 19, got ${opts.describe(nice)}`)
  }
  return binding.configure(threads, nice)
}

function poolInfo () {
  return binding.poolInfo()
}

module.exports = {
  prepare, submit, submitHashMany, cancel, run, call, hold, release, configure, poolInfo, submitPanic,
  KIND_HASH, KIND_RESIZE, KIND_METADATA
}
