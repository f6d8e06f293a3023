'use strict'

// lib/resque/compat.js: node-resque 9.x's module surface with rusque's
// Worker and MultiWorker (to become the `rusque/resque` subpath). Called
// directly here; node-resque's own names come from node-resque, loaded only
// when read, and its absence is ERR_PEER_MISSING.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const NodeResque = require('node-resque')
const rusque = require('..')

const COMPAT = path.join(__dirname, '..', 'lib', 'resque', 'compat.js')

test('every value node-resque exports, with rusque\'s Worker and MultiWorker in place of its own, and remoteJobs', () => {
  const compat = require(COMPAT)
  // node-resque's index: its values (the rest are TypeScript types).
  const names = Object.keys(NodeResque).filter((n) => n !== '__esModule').sort()
  assert.deepEqual(names, ['Connection', 'MultiWorker', 'Plugin', 'Plugins', 'Queue', 'Scheduler', 'Worker'])
  // rusque's one addition: the job definitions that answer remote() calls.
  assert.deepEqual(Object.keys(compat).filter((n) => n !== 'remoteJobs').sort(), names)
  assert.equal(compat.remoteJobs, rusque.remoteJobs)
  assert.equal(compat.Worker, rusque.Worker)
  assert.equal(compat.MultiWorker, rusque.MultiWorker)
  for (const n of ['Connection', 'Queue', 'Scheduler', 'Plugin', 'Plugins']) assert.equal(compat[n], NodeResque[n], n)
  assert.equal(compat.Plugins.Retry, NodeResque.Plugins.Retry)
})

/** Runs `code` in a child where require('node-resque') fails as if it were not installed. */
function withoutNodeResque (code) {
  const hide = `
    const Module = require('node:module')
    const resolve = Module._resolveFilename
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'node-resque') {
        const err = new Error("Cannot find module 'node-resque'")
        err.code = 'MODULE_NOT_FOUND'
        throw err
      }
      return resolve.call(this, request, ...rest)
    }
  `
  const r = spawnSync(process.execPath, ['-e', hide + code], { encoding: 'utf8', env: { ...process.env, COMPAT } })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

test('without node-resque: Worker and MultiWorker load; its own names throw ERR_PEER_MISSING saying how to install it', () => {
  const out = withoutNodeResque(`
    const compat = require(process.env.COMPAT)
    const { RusqueError } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const got = { worker: typeof compat.Worker, multi: typeof compat.MultiWorker, loaded: Object.keys(require.cache).some((f) => f.includes('node-resque')) }
    for (const name of ['Queue', 'Scheduler', 'Connection', 'Plugin', 'Plugins']) {
      try { compat[name]; got[name] = 'no error' } catch (err) { got[name] = [err instanceof RusqueError, err.code, err.message] }
    }
    const w = new compat.Worker({ queues: ['q'] }, { add: (a, b) => a + b })
    w.performInline('add', [1, 2]).then((r) => { got.inline = r; console.log(JSON.stringify(got)) })
  `)
  assert.equal(out.worker, 'function')
  assert.equal(out.multi, 'function')
  assert.equal(out.loaded, false)
  assert.equal(out.inline, 3)
  for (const name of ['Queue', 'Scheduler', 'Connection', 'Plugin', 'Plugins']) {
    const [isRusque, code, message] = out[name]
    assert.equal(isRusque, true, name)
    assert.equal(code, 'ERR_PEER_MISSING', name)
    assert.match(message, new RegExp(`^${name} comes from node-resque, which is not installed: run \`npm install node-resque@\\^9\``), name)
  }
})
