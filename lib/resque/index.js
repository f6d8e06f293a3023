'use strict'

const { Worker } = require('./worker')
const { MultiWorker } = require('./multi-worker')
const { native } = require('./native-job')

module.exports = { Worker, MultiWorker, native }
