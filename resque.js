'use strict'

// `require('rusque/resque')`: node-resque's module surface with rusque's
// Worker and MultiWorker (lib/resque/compat.js says how).
module.exports = require('./lib/resque/compat.js')
