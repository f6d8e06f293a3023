'use strict'

// Native jobs: `jobs = { thumbnail: native('resize', { width: 320 }) }`.
// A producer enqueues one argument that says where the bytes are and where the
// result goes, plus task options that override the defaults:
//   { input: { path } | { key } | { base64 }, output: { path } | { key, ttl }, ...options }
//
// A worker whose jobs are all native() runs them in the Rust loop
// (native-loop.js). In the JS loop they run here, through the same Rust code:
// the Worker's NativeJobs (src/jobs.rs) parses and checks each job exactly as
// the Rust loop does (crates/resque/src/job.rs: defaults, ceilings, key
// policy), and reads files, runs the task and writes files on rusque's pool,
// through the roots it opened once (crates/resque/src/files.rs). Only
// the Redis reads and writes happen here.
//
// The definition carries `native: { task, defaults }` so a worker can run
// such jobs from fetch to ack without calling `perform` at all.

const binding = require('../load').load()
const { RusqueError, makeError, invalidArg, fromNative, codes } = require('../errors')
const { toJson } = require('../args')
const { nativePlugins } = require('./plugins')

const TASKS = new Set(binding.specInfo().tasks.map((t) => t.task))

function native (task, defaults = {}, extra = {}) {
  if (!TASKS.has(task)) throw invalidArg(`unknown native task ${JSON.stringify(task)}: use one of ${[...TASKS].join(', ')}`)
  if (typeof defaults === 'string' && task === 'hash') defaults = { algorithm: defaults }
  if (defaults === null || typeof defaults !== 'object') throw invalidArg('native(task, defaults): defaults must be an object of task options')
  const frozen = Object.freeze(Object.assign({}, defaults))
  const defaultsJson = toJson(frozen)
  // Checked now, by the spec, with the message a job would get.
  try {
    binding.checkNativeDefaults(task, defaultsJson)
  } catch (err) {
    throw fromNative(err)
  }
  const definition = {
    native: { task, defaults: frozen },
    plugins: extra.plugins,
    pluginOptions: extra.pluginOptions,
    perform: function (...args) {
      return runNative(this, task, defaultsJson, args)
    }
  }
  // Standard plugins the Rust loop runs: their options are checked now, as
  // the Rust loop will read them (plugins.js; crates/resque/src/plugins.rs).
  nativePlugins(definition)
  return definition
}

/**
 * The followSymlinks option: undefined (default true) or a boolean. Checked
 * here, where every Worker and MultiWorker opens its roots, because JSON
 * would silently drop a function or a symbol (and so follow symlinks).
 */
function followSymlinksOption (followSymlinks) {
  if (followSymlinks === undefined) return true
  if (typeof followSymlinks !== 'boolean') {
    throw invalidArg(`followSymlinks must be true or false (false: native jobs follow no symlink inside the roots), got ${typeof followSymlinks === 'string' ? JSON.stringify(followSymlinks) : String(followSymlinks)}`)
  }
  return followSymlinks
}

/**
 * What both loops' native configs take alike (NativeJobsConfig in
 * src/jobs.rs, NativeWorkerConfig in src/worker.rs): the roots, whether
 * symlinks inside them are followed, and the keys option as JSON.
 */
function accessConfig ({ roots, followSymlinks, keys }) {
  if (roots !== undefined && roots !== null && !Array.isArray(roots)) {
    throw invalidArg('roots must be an array of directories that native jobs may read and write')
  }
  return {
    roots: (roots || []).map(String),
    followSymlinks: followSymlinksOption(followSymlinks),
    keys: keys === undefined || keys === null ? undefined : toJson(keys)
  }
}

/**
 * A Worker's native jobs in the JS loop: its roots, opened once (each must be
 * an absolute path to an existing directory: throws ERR_INVALID_ARG naming
 * the root otherwise), whether symlinks inside them are followed, its key
 * policy, and the jobs on the pool.
 */
class NativeJobs {
  constructor ({ roots, followSymlinks, namespace, keys }) {
    this._pending = new Map()
    this._seq = 0
    this._active = false
    const config = { namespace, ...accessConfig({ roots, followSymlinks, keys }) }
    try {
      this._native = new binding.NativeJobs(config, (batch) => this._done(batch))
    } catch (err) {
      throw fromNative(err)
    }
  }

  /** The roots after symlinks. */
  get roots () {
    return this._native.roots
  }

  plan (task, defaultsJson, args) {
    try {
      return this._native.plan(task, defaultsJson, toJson(args))
    } catch (err) {
      throw fromNative(err)
    }
  }

  /**
   * Runs a planned job on the pool, with its key input's value and its
   * overlay keys' values; resolves to { result, bytes } (bytes: a key output's value).
   */
  run (plan, input, overlays) {
    return new Promise((resolve, reject) => {
      const id = this._seq = (this._seq + 1) >>> 0
      try {
        this._native.run(id, plan, input === undefined ? null : input, overlays)
      } catch (err) {
        reject(fromNative(err))
        return
      }
      this._pending.set(id, { resolve, reject })
      this._keepAlive()
    })
  }

  _done (batch) {
    for (const d of batch) {
      const p = this._pending.get(d.id)
      if (p === undefined) continue
      this._pending.delete(d.id)
      if (d.code !== null && d.code !== undefined) p.reject(makeError(d.code, d.text))
      else p.resolve({ result: JSON.parse(d.text), bytes: d.bytes })
    }
    this._keepAlive()
  }

  _keepAlive () {
    const want = this._pending.size > 0
    if (want !== this._active) {
      this._active = want
      this._native.setActive(want)
    }
  }
}

const adopted = new WeakMap()

/** The NativeJobs of the worker running a job (a rusque Worker makes its own at construction). */
function jobsOf (worker) {
  if (worker && worker._nativeJobs) return worker._nativeJobs
  // Another worker (node-resque's own, say) running a native() definition.
  let jobs = worker && adopted.get(worker)
  if (!jobs) {
    const o = (worker && worker.options) || {}
    const namespace = worker && worker.connection && typeof worker.connection.key === 'function' ? worker.connection.key() : 'resque'
    jobs = new NativeJobs({ roots: o.roots, followSymlinks: o.followSymlinks, namespace, keys: o.keys })
    if (worker) adopted.set(worker, jobs)
  }
  return jobs
}

async function runNative (worker, task, defaultsJson, args) {
  const jobs = jobsOf(worker)
  const plan = jobs.plan(task, defaultsJson, args)
  // Read before run(), which takes the plan.
  const inputKey = plan.inputKey
  const outputKey = plan.outputKey
  const ttl = plan.outputTtl
  const input = inputKey === null ? undefined : await readKey(worker, plan, inputKey)
  const overlays = []
  for (const key of plan.overlayKeys) overlays.push(await readKey(worker, plan, key, OVERLAY))
  const { result, bytes } = await jobs.run(plan, input, overlays)
  if (outputKey !== null) {
    const redis = redisOf(worker)
    try {
      if (ttl !== null) await redis.set(outputKey, bytes, 'EX', ttl)
      else await redis.set(outputKey, bytes)
    } catch (err) {
      throw redisError(err, `Redis refused to store the output at key ${JSON.stringify(outputKey)}`)
    }
  }
  return result
}

/** What readKey reads: the input, or a composite overlay (as the Rust loop's messages name them). */
const INPUT = { what: 'input', refused: 'input key' }
const OVERLAY = { what: 'a composite overlay', refused: 'composite overlay key' }

/** A key input's value (null: no such key), its size checked before it is fetched. */
async function readKey (worker, plan, key, as = INPUT) {
  const redis = redisOf(worker)
  const refused = `Redis refused to read ${as.refused} ${JSON.stringify(key)}`
  let size
  try {
    size = await redis.strlen(key)
  } catch (err) {
    throw redisError(err, refused, key, as.what)
  }
  try {
    plan.checkInputSize(size, key)
  } catch (err) {
    throw fromNative(err)
  }
  try {
    return await redis.getBuffer(key)
  } catch (err) {
    throw redisError(err, refused, key, as.what)
  }
}

/**
 * A Redis failure as the Rust loop files it: a key of another type is the
 * job's fault (ERR_INVALID_ARG); another refusal (out of memory, an ACL) is
 * the server's (ERR_REDIS_REJECTED); no answer, ERR_REDIS_UNREACHABLE.
 */
function redisError (err, what, inputKey, reading = 'input') {
  const message = String(err && err.message)
  if (err && err.name === 'ReplyError') {
    if (inputKey !== undefined && message.startsWith('WRONGTYPE')) {
      return invalidArg(`cannot read ${reading} from Redis key ${JSON.stringify(inputKey)}: ${message}`)
    }
    return new RusqueError(codes.ERR_REDIS_REJECTED, `${what}: ${message}`)
  }
  return new RusqueError(codes.ERR_REDIS_UNREACHABLE, `${what}: ${message}`)
}

function redisOf (worker) {
  const redis = worker && worker.connection && worker.connection.redis
  if (!redis) throw new RusqueError(codes.ERR_REDIS_UNREACHABLE, 'Redis key input/output needs a connected Worker')
  return redis
}

/** What remoteJobs() takes: limits a worker puts on the calls it answers. */
const REMOTE_LIMITS = ['maxInputBytes', 'limitInputPixels', 'limitOutputPixels']

/**
 * The job definitions that answer `rusque.remote()` calls, under their
 * class names (binding.remoteInfo(): `rusque:resize`, `rusque:metadata`,
 * `rusque:hash`). A Worker whose jobs are all native runs them in the Rust
 * loop; the JS loop (a Worker with JS jobs too) does not answer calls, and
 * fails them with ERR_INVALID_ARG saying so.
 *
 * `limits`: `maxInputBytes` (every call), `limitInputPixels` and
 * `limitOutputPixels` (resize: the default for a call that sets none, and
 * a ceiling a call may not raise, as native() defaults are).
 */
function remoteJobs (limits = {}) {
  if (limits === null || typeof limits !== 'object') throw invalidArg(`remoteJobs(limits): limits must be an object of ${REMOTE_LIMITS.join(', ')}`)
  for (const k of Object.keys(limits)) {
    if (!REMOTE_LIMITS.includes(k)) throw invalidArg(`remoteJobs(limits): unknown limit ${JSON.stringify(k)}; use ${REMOTE_LIMITS.join(', ')}`)
  }
  const jobs = {}
  for (const { task, class: name } of binding.remoteInfo().classes) {
    const defaults = {}
    for (const k of REMOTE_LIMITS) {
      if (limits[k] !== undefined && (k === 'maxInputBytes' || task === 'resize')) defaults[k] = limits[k]
    }
    try {
      binding.checkNativeDefaults(task, toJson(defaults))
    } catch (err) {
      throw fromNative(err)
    }
    jobs[name] = {
      native: { task, defaults: Object.freeze(defaults), remote: true },
      perform () {
        throw invalidArg(`${name}: remote calls are answered by the Rust loop only; give this Worker native jobs only (remoteJobs() and native() ones), with nativeLoop left on`)
      }
    }
  }
  return jobs
}

module.exports = { native, remoteJobs, runNative, NativeJobs, accessConfig, toJson, redisError }
