'use strict'

const { Worker } = require('./worker')
const { MultiWorker } = require('./multi-worker')
const { native, remoteJobs } = require('./native-job')

module.exports = { Worker, MultiWorker, native, remoteJobs }
