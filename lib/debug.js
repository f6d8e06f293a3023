'use strict'

// NODE_DEBUG=rusque: life-cycle events of the pool, the queues' runtime and
// the workers, through util.debuglog (free when the variable is unset).

module.exports = require('node:util').debuglog('rusque')
