'use strict'

// The JS side's loader of the Redis scripts in lua/ (each file says what it
// does, its KEYS, ARGV and reply). Every script is a single atomic step, so a
// worker that dies between two of them leaves Redis in a state another worker
// can repair. The files are read once, at require time, from the installed
// package (package.json `files` ships lua/). The Rust loop includes the same
// files into its binary (crates/resque/src/worker.rs).

const fs = require('node:fs')
const path = require('node:path')

const DIR = path.join(__dirname, '..', '..', 'lua')

function lua (name) {
  return fs.readFileSync(path.join(DIR, name), 'utf8')
}

// step-id.lua is a library (step_seen, step_done) prepended to a step script.
const STEP = lua('step-id.lua') + lua('step-js.lua')
const RECOVER = lua('recover.lua')
const RESUME = lua('resume.lua')
const CALL_CANCEL = lua('call-cancel.lua')

/** Defines the scripts as ioredis commands on `redis`, once per client. */
function define (redis) {
  if (typeof redis.rusqueStep !== 'function') redis.defineCommand('rusqueStep', { lua: STEP })
  if (typeof redis.rusqueRecover !== 'function') redis.defineCommand('rusqueRecover', { numberOfKeys: 8, lua: RECOVER })
  if (typeof redis.rusqueCountResume !== 'function') redis.defineCommand('rusqueCountResume', { numberOfKeys: 2, lua: RESUME })
  if (typeof redis.rusqueCallCancel !== 'function') redis.defineCommand('rusqueCallCancel', { numberOfKeys: 3, lua: CALL_CANCEL })
}

module.exports = { define, STEP, RECOVER, RESUME, CALL_CANCEL }
