'use strict'

/** An error with a stable `code`; every rejection from rusque is one of these. */
class RusqueError extends Error {
  constructor (code, message, options) {
    super(message, options)
    this.name = 'RusqueError'
    this.code = code
  }
}

/** Like Node's own AbortError: name 'AbortError', code 'ABORT_ERR'. */
class AbortError extends Error {
  constructor (message = 'The operation was aborted', options) {
    super(message, options)
    this.name = 'AbortError'
    this.code = 'ABORT_ERR'
  }
}

function abortError (signal) {
  const reason = signal && signal.reason
  return new AbortError('The operation was aborted', reason === undefined ? undefined : { cause: reason })
}

function makeError (code, message) {
  if (code === 'ABORT_ERR') return new AbortError(message)
  return new RusqueError(code, message)
}

function invalidArg (message, options) {
  return new RusqueError('ERR_INVALID_ARG', message, options)
}

module.exports = { RusqueError, AbortError, abortError, makeError, invalidArg }
