'use strict'

const pool = require('./lib/pool')
const metrics = require('./lib/metrics')
const { RusqueError, AbortError } = require('./lib/errors')
const { JobQueue } = require('./lib/queue')
const { Worker, MultiWorker, native: nativeJob, remoteJobs } = require('./lib/resque')
const { remote } = require('./lib/remote')

/**
 * Resizes an image (JPEG, PNG, WebP, GIF or AVIF bytes) on the rusque pool.
 * Options follow sharp's meanings: width, height, fit, position, background,
 * withoutEnlargement, kernel, format, quality, progressive, autoOrient, limitInputPixels, limitOutputPixels, signal,
 * and the per-format encoder options (docs/api.md): chromaSubsampling, trellisQuantisation, optimiseCoding,
 * compressionLevel, adaptiveFiltering, palette, colours, dither, lossless, nearLossless, effort, alphaQuality.
 */
function resize (input, options) {
  return pool.call('resize', input, options)
}

/** Reads format, size, channels, alpha and EXIF orientation from the header only. */
function metadata (input, options) {
  return pool.call('metadata', input, options)
}

/** Hex digest of a buffer: 'sha256' (default), 'sha512', 'blake3' or 'md5'. */
function hash (input, algorithm) {
  return pool.call('hash', input, algorithm)
}

/**
 * What the loaded native binary is: { target, simd: { jpeg } }. simd.jpeg says
 * whether libjpeg-turbo runs its SIMD code on this machine (asked of the
 * library itself); a build without it does JPEG work about 2x slower.
 */
function buildInfo () {
  return require('./lib/load').load().buildInfo()
}

module.exports = {
  resize,
  metadata,
  hash,
  configure: pool.configure,
  poolInfo: metrics.poolInfo,
  prometheus: metrics.prometheus,
  buildInfo,
  JobQueue,
  Worker,
  MultiWorker,
  native: nativeJob,
  remote,
  remoteJobs,
  RusqueError,
  AbortError
}
