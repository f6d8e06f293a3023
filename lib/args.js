'use strict'

// What only JS can check about a call's arguments: bytes (brand checks,
// detached buffers), AbortSignals, getters and Proxies that throw. Task
// options themselves go to Rust as JSON (toJson), where the one task spec
// (crates/core/src/spec) parses and checks them for every path.

const { types } = require('node:util')
const { RusqueError, makeError, invalidArg } = require('./errors')

/**
 * True if `ab` (an ArrayBuffer) was detached: transferred to a worker or by
 * structuredClone(..., { transfer }). Its views then read as empty.
 */
function isDetached (ab) {
  if (typeof ab.detached === 'boolean') return ab.detached // Node 22+
  if (ab.byteLength !== 0 || !types.isArrayBuffer(ab)) return false
  try {
    new Uint8Array(ab) // eslint-disable-line no-new
    return false
  } catch {
    return true
  }
}

function detachedError (name) {
  return invalidArg(`${name}'s ArrayBuffer is detached (transferred to a worker, or by structuredClone with transfer): pass bytes this thread still owns`)
}

/**
 * The bytes of a Buffer, typed array, DataView or ArrayBuffer as a
 * Uint8Array, checked by brand (util.types), not by prototype: a Proxy or an
 * object that only claims Uint8Array's prototype is refused here rather than
 * failing inside the native call.
 */
function toBytes (input, name = 'input') {
  let bytes
  // A Proxy fails every brand check below; isProxy (a native call) is asked
  // only on the refusal path, off the per-call hot path.
  if (types.isUint8Array(input)) bytes = input
  else if (types.isArrayBuffer(input)) {
    if (isDetached(input)) throw detachedError(name)
    bytes = new Uint8Array(input)
  } else if (ArrayBuffer.isView(input)) {
    if (isDetached(input.buffer)) throw detachedError(name)
    bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  } else if (types.isProxy(input)) {
    throw invalidArg(`${name} must be a Buffer, Uint8Array or ArrayBuffer, got a Proxy: pass the buffer itself`)
  } else {
    throw invalidArg(`${name} must be a Buffer, Uint8Array or ArrayBuffer, got ${describe(input)}`)
  }
  if (bytes.byteLength === 0 && isDetached(bytes.buffer)) throw detachedError(name)
  return bytes
}

/**
 * Runs `read` (which validates one argument), turning anything it throws
 * that is not a RusqueError (a getter or Proxy trap of the caller's that
 * throws) into ERR_INVALID_ARG naming the argument, with the original as
 * its cause.
 */
function readArg (name, read) {
  try {
    return read()
  } catch (err) {
    throw argError(name, err)
  }
}

/** What readArg throws for `err`, thrown while reading argument `name` (hot paths catch themselves). */
function argError (name, err) {
  if (err instanceof RusqueError) return err
  let what
  try { what = types.isNativeError(err) ? `${err.name}: ${err.message}` : describe(err) } catch { what = 'an error' }
  return invalidArg(`${name} could not be read (reading it threw ${what}): pass a plain object`, { cause: err })
}

function imageBytes (input) {
  const bytes = toBytes(input)
  if (bytes.byteLength === 0) throw invalidArg('input is empty: pass the bytes of a JPEG, PNG, WebP, GIF or AVIF image')
  return bytes
}

function describe (v) {
  if (v === null) return 'null'
  if (types.isProxy(v)) return 'a Proxy'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') {
    let name
    try { name = v.constructor && v.constructor.name } catch {} // a getter that throws
    return `an instance of ${(typeof name === 'string' && name) || 'Object'}`
  }
  if (typeof v === 'string') return `a string (${JSON.stringify(v.slice(0, 40))})`
  return `${typeof v} ${String(v)}`
}

// AbortSignal's own `aborted` getter: it throws for anything that is not an
// AbortSignal (a brand check), where `instanceof` or duck typing would let
// through an object that lacks removeEventListener or never fires.
const abortedOf = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted').get

/** `signal` if it is a real AbortSignal, undefined if absent; else ERR_INVALID_ARG. */
function checkSignal (signal, name = 'signal') {
  if (signal === undefined || signal === null) return undefined
  try {
    abortedOf.call(signal)
  } catch {
    throw invalidArg(`${name} must be an AbortSignal (from an AbortController or AbortSignal.timeout()), got ${describe(signal)}`)
  }
  return signal
}

/**
 * JSON for Rust. What JSON cannot carry goes as a string naming it (NaN,
 * Infinity, a BigInt's digits, "function", "symbol"), so the option's own
 * check refuses it by name instead of JSON.stringify quietly writing null
 * ("not given") or dropping the key.
 */
function toJson (value) {
  return JSON.stringify(value, (k, v) => {
    if ((typeof v === 'number' && !Number.isFinite(v)) || typeof v === 'bigint') return String(v)
    if (typeof v === 'function' || typeof v === 'symbol') return typeof v
    return v
  })
}

/**
 * A call's task options as JSON for the spec, without the JS-only keys
 * (signal); "null" when none are given. Getters run here (call inside readArg).
 * With `buffers` (an array), each `composite` overlay given as bytes is
 * pushed there and named in the JSON as `{ buffer: n }`; anything else is
 * left for the spec to judge.
 */
function optionsJson (options, buffers) {
  if (options === undefined || options === null) return 'null'
  if (typeof options !== 'object') throw invalidArg(`options must be an object, got ${describe(options)}`)
  const rest = {}
  for (const k of Object.keys(options)) {
    if (JS_ONLY.has(k)) continue
    rest[k] = k === 'composite' && buffers !== undefined ? overlaysJson(options[k], buffers) : options[k]
  }
  return toJson(rest)
}

/** `composite` with each overlay's bytes moved to `buffers` (see optionsJson). */
function overlaysJson (composite, buffers) {
  if (!Array.isArray(composite)) return composite
  return composite.map((entry, i) => {
    if (entry === null || typeof entry !== 'object' || !isBytes(entry.input)) return entry
    const bytes = toBytes(entry.input, `composite[${i}].input`)
    buffers.push(bytes)
    return { ...entry, input: { buffer: buffers.length - 1 } }
  })
}

/** Whether `v` is bytes toBytes takes (a Buffer, typed array, DataView or ArrayBuffer). */
function isBytes (v) {
  return ArrayBuffer.isView(v) || types.isArrayBuffer(v)
}

/** Options only JS reads; every other option is the spec's. */
const JS_ONLY = new Set(['signal'])

module.exports = { toBytes, imageBytes, checkSignal, readArg, argError, isDetached, describe, toJson, optionsJson, JS_ONLY }
