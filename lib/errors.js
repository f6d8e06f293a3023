'use strict'

// The error classes, and the codes they carry. The list of codes is not
// written here: it is the Rust catalogue (crates/core/src/error.rs, exported
// by the binding as errorCatalogue()), the one list of every code the package
// can produce. Throw sites use `codes.X`, so a misspelt code is undefined at
// once rather than a code nobody documents; __test__/errors.test.js checks
// that every 'ERR_…' literal in the sources is in the catalogue.

const binding = require('./load').load()
const { RusqueError } = require('./rusque-error')

/** Every code with its one-line meaning: [{ code, description }], in catalogue order. */
const catalogue = Object.freeze(binding.errorCatalogue().map((e) => Object.freeze({ code: e.code, description: e.description })))

/** code → code for every code in the catalogue, e.g. codes.ERR_QUEUE_FULL === 'ERR_QUEUE_FULL'. */
const codes = Object.freeze(Object.fromEntries(catalogue.map((e) => [e.code, e.code])))

/** Like Node's own AbortError: name 'AbortError', code 'ABORT_ERR'. */
class AbortError extends Error {
  constructor (message = 'The operation was aborted', options) {
    super(message, options)
    this.name = 'AbortError'
    this.code = codes.ABORT_ERR
  }
}

function abortError (signal) {
  const reason = signal && signal.reason
  return new AbortError('The operation was aborted', reason === undefined ? undefined : { cause: reason })
}

function makeError (code, message) {
  if (code === codes.ABORT_ERR) return new AbortError(message)
  return new RusqueError(code, message)
}

function invalidArg (message, options) {
  return new RusqueError(codes.ERR_INVALID_ARG, message, options)
}

/**
 * The one decoder of an error the binding threw. The glue throws its errors
 * with `code` set to a catalogue code (src/error.rs): those become the same
 * RusqueError (or AbortError) as everywhere else. Anything else is napi-rs
 * refusing to convert an argument before the Rust code ran (its codes are
 * napi statuses such as 'InvalidArg' or 'NumberExpected'): ERR_INVALID_ARG,
 * the original as `cause`.
 */
function fromNative (err) {
  if (err instanceof RusqueError || err instanceof AbortError) return err
  const code = err && err.code
  if (typeof code === 'string' && Object.hasOwn(codes, code)) return makeError(code, err.message)
  return invalidArg(`the native call refused an argument: ${err && err.message}`, { cause: err })
}

/**
 * process.emitWarning() options for an 'error' a Worker or MultiWorker had no
 * listener for (emitting it would crash the process). The code lets apps
 * filter it: process.on('warning', (w) => w.code === 'RUSQUE_UNHANDLED_ERROR').
 * Warning codes are not error codes: they are not in the catalogue.
 */
const UNHANDLED_ERROR_WARNING = Object.freeze({ type: 'RusqueWorkerWarning', code: 'RUSQUE_UNHANDLED_ERROR' })

module.exports = { RusqueError, AbortError, abortError, makeError, invalidArg, fromNative, codes, catalogue, UNHANDLED_ERROR_WARNING }
