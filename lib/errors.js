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

/**
 * process.emitWarning() options for an 'error' a Worker or MultiWorker had no
 * listener for (emitting it would crash the process). The code lets apps
 * filter it: process.on('warning', (w) => w.code === 'RUSQUE_UNHANDLED_ERROR').
 */
const UNHANDLED_ERROR_WARNING = Object.freeze({ type: 'RusqueWorkerWarning', code: 'RUSQUE_UNHANDLED_ERROR' })

module.exports = { RusqueError, AbortError, abortError, makeError, invalidArg, UNHANDLED_ERROR_WARNING }
