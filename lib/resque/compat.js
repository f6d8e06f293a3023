'use strict'

// node-resque 9.x's module surface with rusque's workers: `Worker` and
// `MultiWorker` are rusque's; `Connection`, `Queue`, `Scheduler`, `Plugin` and
// `Plugins` are node-resque's own (producers, the scheduler and plugins are
// its code, which rusque reads and writes the same Redis for). So moving an
// app over is one line: require('node-resque') becomes this module.
//
// node-resque is an optional peer: it is loaded the first time one of its
// names is read, and a missing package is a RusqueError ERR_PEER_MISSING that
// says how to install it. Reading Worker or MultiWorker never loads it.

const { Worker } = require('./worker')
const { MultiWorker } = require('./multi-worker')
const { RusqueError, codes } = require('../errors')

// Every value node-resque 9.x's index exports that rusque does not replace
// (its other exports are TypeScript types).
const FROM_NODE_RESQUE = ['Connection', 'Queue', 'Scheduler', 'Plugin', 'Plugins']

let nodeResque = null

function loadNodeResque (name) {
  if (nodeResque !== null) return nodeResque
  try {
    nodeResque = require('node-resque')
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND' && /'node-resque'/.test(err.message)) {
      throw new RusqueError(codes.ERR_PEER_MISSING,
        `${name} comes from node-resque, which is not installed: run \`npm install node-resque@^9\` ` +
        '(rusque/resque takes Connection, Queue, Scheduler, Plugin and Plugins from it; Worker and MultiWorker are rusque\'s)',
        { cause: err })
    }
    throw err
  }
  return nodeResque
}

const { remoteJobs } = require('./native-job')

const compat = { Worker, MultiWorker, remoteJobs }
for (const name of FROM_NODE_RESQUE) {
  Object.defineProperty(compat, name, {
    enumerable: true,
    get: () => loadNodeResque(name)[name]
  })
}

module.exports = compat
