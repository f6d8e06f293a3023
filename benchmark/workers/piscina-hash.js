'use strict'
// piscina worker: the same sha256 the rusque jobs compute, with node:crypto.
const crypto = require('node:crypto')
module.exports = (buf) => crypto.createHash('sha256').update(buf).digest('hex')
