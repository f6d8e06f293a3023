'use strict'

// Argument validation on the JS side: fail fast with a message naming the
// option, before anything is copied or queued. Rust validates again.

const { types } = require('node:util')
const { RusqueError, invalidArg } = require('./errors')

const FITS = new Set(['cover', 'contain', 'fill', 'inside', 'outside'])
const KERNELS = new Set(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos3'])
const FORMATS = { jpeg: 'jpeg', jpg: 'jpeg', png: 'png', webp: 'webp' }
const HASHES = new Set(['sha256', 'sha512', 'blake3', 'md5'])
const DEFAULT_LIMIT_INPUT_PIXELS = 268402689

// sharp's position names and gravities, as (x, y) anchors from 0 to 1.
const POSITIONS = {
  centre: [0.5, 0.5],
  center: [0.5, 0.5],
  top: [0.5, 0],
  'right top': [1, 0],
  right: [1, 0.5],
  'right bottom': [1, 1],
  bottom: [0.5, 1],
  'left bottom': [0, 1],
  left: [0, 0.5],
  'left top': [0, 0],
  north: [0.5, 0],
  northeast: [1, 0],
  east: [1, 0.5],
  southeast: [1, 1],
  south: [0.5, 1],
  southwest: [0, 1],
  west: [0, 0.5],
  northwest: [0, 0]
}

const NAMED_COLOURS = {
  white: [255, 255, 255, 255],
  black: [0, 0, 0, 255],
  transparent: [0, 0, 0, 0]
}

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
    if (err instanceof RusqueError) throw err
    let what
    try { what = types.isNativeError(err) ? `${err.name}: ${err.message}` : describe(err) } catch { what = 'an error' }
    throw invalidArg(`${name} could not be read (reading it threw ${what}): pass a plain object`, { cause: err })
  }
}

function imageBytes (input) {
  const bytes = toBytes(input)
  if (bytes.byteLength === 0) throw invalidArg('input is empty: pass the bytes of a JPEG, PNG, WebP or GIF image')
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

function dimension (name, v) {
  if (v === undefined || v === null) return undefined
  if (!Number.isInteger(v) || v < 1 || v > 65535) {
    throw invalidArg(`${name} must be an integer from 1 to 65535, got ${describe(v)}`)
  }
  return v
}

// A pixel limit: a non-negative integer, false (or 0) for none, true or
// absent for the default (undefined here). The Rust loop's job parser
// (crates/resque/src/job.rs) takes the same values with the same message.
function pixelLimit (name, v) {
  if (v === undefined || v === null || v === true) return undefined
  if (v === false) return 0
  if (!Number.isInteger(v) || v < 0) throw invalidArg(`${name} must be a non-negative integer, true or false; got ${describe(v)}`)
  return v
}

function bool (name, v, dflt) {
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') throw invalidArg(`${name} must be a boolean, got ${describe(v)}`)
  return v
}

function colour (v) {
  if (v === undefined) return [255, 255, 255, 255]
  if (typeof v === 'string') {
    const named = NAMED_COLOURS[v.toLowerCase()]
    if (named) return named
    const m = /^#?([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(v)
    if (m) {
      let hex = m[1]
      if (hex.length === 3) hex = hex.split('').map((c) => c + c).join('')
      const out = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16))
      out.push(hex.length === 8 ? parseInt(hex.slice(6, 8), 16) : 255)
      return out
    }
  } else if (v && typeof v === 'object') {
    const { r, g, b, alpha = 1 } = v
    const ok = [r, g, b].every((c) => Number.isInteger(c) && c >= 0 && c <= 255) &&
      typeof alpha === 'number' && alpha >= 0 && alpha <= 1
    if (ok) return [r, g, b, Math.round(alpha * 255)]
  }
  throw invalidArg(`background must be a colour such as '#ff0000', 'white' or { r, g, b, alpha }, got ${describe(v)}`)
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

/** Validates sharp-style resize options into the native shape plus the signal. */
function resizeOptions (options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') throw invalidArg(`options must be an object, got ${describe(options)}`)
  const width = dimension('width', options.width)
  const height = dimension('height', options.height)
  const fit = options.fit === undefined ? 'cover' : options.fit
  if (!FITS.has(fit)) throw invalidArg(`fit must be one of ${[...FITS].join(', ')}; got ${describe(fit)}`)
  const position = options.position === undefined ? 'centre' : options.position
  const anchor = typeof position === 'string' ? POSITIONS[position.toLowerCase()] : undefined
  if (!anchor) {
    throw invalidArg(`position must be one of ${Object.keys(POSITIONS).join(', ')}; got ${describe(position)}`)
  }
  const kernel = options.kernel === undefined ? 'lanczos3' : options.kernel
  if (!KERNELS.has(kernel)) throw invalidArg(`kernel must be one of ${[...KERNELS].join(', ')}; got ${describe(kernel)}`)
  let format
  if (options.format !== undefined) {
    format = typeof options.format === 'string' ? FORMATS[options.format.toLowerCase()] : undefined
    if (!format) throw invalidArg(`format must be one of jpeg, png, webp; got ${describe(options.format)}`)
  }
  const quality = options.quality === undefined ? 80 : options.quality
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw invalidArg(`quality must be an integer from 1 to 100, got ${describe(quality)}`)
  }
  const limit = pixelLimit('limitInputPixels', options.limitInputPixels) ?? DEFAULT_LIMIT_INPUT_PIXELS
  // Undefined follows limitInputPixels (in Rust, where the default is defined).
  const limitOutput = pixelLimit('limitOutputPixels', options.limitOutputPixels)
  return {
    native: {
      width,
      height,
      fit,
      positionX: anchor[0],
      positionY: anchor[1],
      background: colour(options.background),
      withoutEnlargement: bool('withoutEnlargement', options.withoutEnlargement, false),
      kernel,
      format,
      quality,
      autoOrient: bool('autoOrient', options.autoOrient, true),
      limitInputPixels: limit,
      limitOutputPixels: limitOutput
    },
    signal: checkSignal(options.signal)
  }
}

function hashAlgorithm (algorithm) {
  if (algorithm === undefined) return 'sha256'
  if (typeof algorithm !== 'string' || !HASHES.has(algorithm.toLowerCase())) {
    throw invalidArg(`algorithm must be one of ${[...HASHES].join(', ')}; got ${describe(algorithm)}`)
  }
  return algorithm.toLowerCase()
}

module.exports = { toBytes, imageBytes, resizeOptions, hashAlgorithm, checkSignal, readArg, isDetached, describe, DEFAULT_LIMIT_INPUT_PIXELS }
