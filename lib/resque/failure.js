'use strict'

// node-resque's failure record, the entry pushed to `<ns>:failed`, built in
// one place on the JS side: a failed job's ack (worker.js), a job given back
// at end() that cannot be re-queued (worker.js), a dead worker's job filed by
// recovery (recovery.js). The Rust loop builds the same shape in
// payload::failure (crates/resque/src/payload.rs); lua/step-js.lua builds it
// for the entries it files itself. node-resque's Queue reads these records
// (failed(), removeFailed() finds one by JSON.stringify(JSON.parse(record)),
// so the keys keep node-resque's order).

/**
 * The record as JSON text: { worker, queue, payload, exception, error,
 * backtrace, failed_at }. `backtrace` is an array of lines, empty when
 * there is no stack: never null, because node-resque's
 * Queue#retryStuckJobs (a Scheduler with retryStuckJobs: true) reads
 * `backtrace[1]` of every failed record and throws on null.
 * `failed_at` is written as node-resque writes it (Date#toString()).
 */
function failureRecord (worker, queue, payload, exception, error, backtrace, failedAt = new Date()) {
  return JSON.stringify({
    worker,
    queue,
    payload,
    exception,
    error,
    backtrace: Array.isArray(backtrace) ? backtrace : [],
    failed_at: failedAt.toString()
  })
}

module.exports = { failureRecord }
