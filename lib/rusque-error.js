'use strict'

// The RusqueError class on its own, with no dependency on the binding, so
// that lib/load.js can throw one (ERR_RUSQUE_NATIVE_LOAD) when the binding
// itself cannot load. Everything else takes it from lib/errors.js.

/** An error with a stable `code`; every rejection from rusque is one of these. */
class RusqueError extends Error {
  constructor (code, message, options) {
    super(message, options)
    this.name = 'RusqueError'
    this.code = code
  }
}

module.exports = { RusqueError }
