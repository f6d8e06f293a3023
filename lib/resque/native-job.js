'use strict'

// Native jobs: `jobs = { thumbnail: native('resize', { width: 320 }) }`.
// A producer enqueues one argument that says where the bytes are and where the
// result goes, plus task options that override the defaults:
//   { input: { path } | { key } | { base64 }, output: { path } | { key, ttl }, ...options }
// The CPU part runs on rusque's pool (lib/native); only I/O and events touch
// the JS thread. Paths must resolve, after symlinks, inside the Worker's
// `roots`; with no roots, path I/O is refused.
//
// The definition carries `native: { task, defaults }` so a worker can later run
// such jobs from fetch to ack without calling `perform` at all.

const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const nativeBinding = require('../native')
const { RusqueError, invalidArg } = require('../errors')

const TASKS = new Set(['resize', 'metadata', 'hash'])
const rootsCache = new WeakMap()
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function native (task, defaults = {}, extra = {}) {
  if (!TASKS.has(task)) throw invalidArg(`unknown native task ${JSON.stringify(task)}: use one of ${[...TASKS].join(', ')}`)
  if (typeof defaults === 'string' && task === 'hash') defaults = { algorithm: defaults }
  if (defaults === null || typeof defaults !== 'object') throw invalidArg('native(task, defaults): defaults must be an object of task options')
  const frozen = Object.freeze(Object.assign({}, defaults))
  return {
    native: { task, defaults: frozen },
    plugins: extra.plugins,
    pluginOptions: extra.pluginOptions,
    perform: function (args) {
      return runNative(this, task, frozen, args)
    }
  }
}

async function runNative (worker, task, defaults, args) {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw invalidArg(`a native ${task} job takes one object argument { input, output, ...options }, got ${args === null ? 'null' : typeof args}`)
  }
  const { input, output, ...taskOptions } = args
  const options = Object.assign({}, defaults, taskOptions)
  if (task === 'resize' && !output) throw invalidArg('a native resize job needs output: { path } or { key, ttl }')

  const bytes = await readInput(worker, input)
  const job = nativeBinding.prepare(task, bytes, task === 'hash' ? { algorithm: options.algorithm } : options)
  const value = await nativeBinding.run(job)

  let result = value
  if (task === 'resize') result = { size: value.length }
  if (output) {
    const data = task === 'metadata' ? JSON.stringify(value) : value
    const where = await writeOutput(worker, output, data)
    if (task === 'resize') Object.assign(result, where)
  }
  return result
}

async function readInput (worker, input) {
  if (input === null || typeof input !== 'object') {
    throw invalidArg('input must be { path }, { key } or { base64 }')
  }
  if (typeof input.base64 === 'string') {
    // Buffer.from skips what is not base64; a job must not silently run on
    // other bytes than were sent (and the Rust loop refuses such input too).
    if (input.base64.length % 4 !== 0 || !BASE64.test(input.base64)) {
      throw invalidArg('input.base64 is not valid base64 (standard alphabet, padded with =)')
    }
    const bytes = Buffer.from(input.base64, 'base64')
    // Canonical only ("AB==" has stray bits that a decoder drops), as the Rust loop requires.
    if (bytes.toString('base64') !== input.base64) {
      throw invalidArg('input.base64 is not valid base64 (standard alphabet, padded with =)')
    }
    return bytes
  }
  if (typeof input.key === 'string') {
    const value = await redisOf(worker).getBuffer(input.key)
    if (value === null) throw new RusqueError('ERR_INPUT_NOT_FOUND', `no value at Redis key ${JSON.stringify(input.key)}`)
    return value
  }
  if (typeof input.path === 'string') {
    const real = await resolveInside(worker, input.path, 'input')
    const fh = await fs.promises.open(real, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW || 0))
    try {
      await checkOpened(worker, fh, input.path, 'input')
      return await fh.readFile()
    } finally {
      await fh.close()
    }
  }
  throw invalidArg('input must be { path }, { key } or { base64 }')
}

async function writeOutput (worker, output, data) {
  if (output === null || typeof output !== 'object') throw invalidArg('output must be { path } or { key, ttl }')
  if (typeof output.key === 'string') {
    const redis = redisOf(worker)
    if (output.ttl !== undefined) {
      // Redis refuses an expiry past about 9.2e15 s from now.
      if (!Number.isInteger(output.ttl) || output.ttl < 1 || output.ttl > 1e15) throw invalidArg(`output.ttl is in seconds and must be a positive integer, at most 10^15, got ${output.ttl}`)
      await redis.set(output.key, data, 'EX', output.ttl)
    } else {
      await redis.set(output.key, data)
    }
    return { key: output.key }
  }
  if (typeof output.path === 'string') {
    const target = path.resolve(output.path)
    const dir = await resolveInside(worker, path.dirname(target), 'output directory')
    const finalPath = path.join(dir, path.basename(target))
    // Write beside the target and rename over it: a symlink planted at the
    // target is replaced, never followed out of the roots.
    const tmp = `${finalPath}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`
    try {
      const fh = await fs.promises.open(tmp, 'wx')
      try {
        await checkOpened(worker, fh, output.path, 'output')
        await fh.writeFile(data)
      } finally {
        await fh.close()
      }
      await fs.promises.rename(tmp, finalPath)
    } catch (err) {
      await fs.promises.rm(tmp, { force: true })
      throw err
    }
    return { path: finalPath }
  }
  throw invalidArg('output must be { path } or { key, ttl }')
}

function redisOf (worker) {
  const redis = worker.connection && worker.connection.redis
  if (!redis) throw new RusqueError('ERR_NOT_CONNECTED', 'Redis key input/output needs a connected Worker')
  return redis
}

function resolvedRoots (worker) {
  const roots = worker.options && worker.options.roots
  if (!roots || roots.length === 0) return null
  let p = rootsCache.get(roots)
  if (!p) {
    p = Promise.all(roots.map((r) => fs.promises.realpath(path.resolve(String(r)))))
    rootsCache.set(roots, p)
    p.catch(() => rootsCache.delete(roots))
  }
  return p
}

function inside (p, roots) {
  for (const root of roots) {
    if (p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return true
  }
  return false
}

// The check above looked at names; a directory swapped for a symlink between
// that check and the open would slip through. Where the OS can say which file
// a descriptor really is (Linux /proc), check that too.
async function checkOpened (worker, fh, p, what) {
  let actual
  try {
    actual = await fs.promises.readlink(`/proc/self/fd/${fh.fd}`)
  } catch {
    return
  }
  const roots = await resolvedRoots(worker)
  if (!inside(actual, roots)) {
    throw new RusqueError('ERR_PATH_OUTSIDE_ROOTS', `${what} path ${JSON.stringify(p)} was moved outside the Worker's roots while being opened`)
  }
}

async function resolveInside (worker, p, what) {
  const rootsP = resolvedRoots(worker)
  if (rootsP === null) {
    throw new RusqueError('ERR_PATH_OUTSIDE_ROOTS', `${what} path ${JSON.stringify(p)} refused: this Worker has no roots option, so native jobs may not read or write files (use { key } or { base64 }, or set roots)`)
  }
  const roots = await rootsP
  const lexical = path.resolve(p)
  const outside = () => new RusqueError('ERR_PATH_OUTSIDE_ROOTS', `${what} path ${JSON.stringify(p)} resolves outside the Worker's roots (${roots.join(', ')})`)
  if (!inside(lexical, roots)) throw outside()
  let real
  try {
    real = await fs.promises.realpath(lexical)
  } catch (err) {
    if (err.code === 'ENOENT') {
      throw new RusqueError(what === 'input' ? 'ERR_INPUT_NOT_FOUND' : 'ERR_OUTPUT_NOT_FOUND', `${what} path ${JSON.stringify(p)} does not exist`)
    }
    throw err
  }
  if (!inside(real, roots)) throw outside()
  return real
}

module.exports = { native, runNative }
