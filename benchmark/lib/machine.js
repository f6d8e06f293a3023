'use strict'

// What the numbers were measured on: printed first by the runner and stored
// with every suite's JSON, so results from different machines never get mixed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const REPO_ROOT = path.join(__dirname, '..', '..')

/**
 * Version of an installed package, read from its package.json with fs:
 * packages such as sharp do not export './package.json', so require() of it
 * fails. Walks up from the resolved entry point to the package's own root.
 */
function packageVersion (name) {
  let entry
  try {
    entry = require.resolve(name, { paths: [REPO_ROOT] })
  } catch {
    return null
  }
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json')
    if (!fs.existsSync(file)) continue
    try {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8'))
      if (pkg.name === name) return pkg.version
    } catch {}
  }
  return null
}

function rusqueVersion () {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version
}

function rusquePool () {
  try {
    return require(REPO_ROOT).poolInfo()
  } catch (err) {
    return { error: err.message }
  }
}

function describeMachine () {
  const cpus = os.cpus()
  return {
    cpuModel: cpus.length ? cpus[0].model.trim() : 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    logicalCpus: cpus.length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((v) => +v.toFixed(2)),
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE || '4 (default)',
    versions: {
      rusque: rusqueVersion(),
      sharp: packageVersion('sharp'),
      jimp: packageVersion('jimp')
    },
    rusquePool: rusquePool()
  }
}

function formatMachine (m) {
  const v = m.versions
  const pool = m.rusquePool.error ? `unavailable (${m.rusquePool.error})` : `${m.rusquePool.threads} threads, nice ${m.rusquePool.nice}`
  return [
    `CPU:      ${m.cpuModel}, ${m.cores} cores available (${m.logicalCpus} logical), ${m.memoryGiB} GiB`,
    `OS:       ${m.platform}`,
    `Node:     ${m.node} (UV_THREADPOOL_SIZE ${m.uvThreadpoolSize})`,
    `Versions: rusque ${v.rusque}, sharp ${v.sharp || 'not installed'}, jimp ${v.jimp || 'not installed'}`,
    `rusque pool: ${pool}`,
    `Load average at start: ${m.loadAverage.join(' ')}`
  ].join('\n')
}

module.exports = { describeMachine, formatMachine, packageVersion, REPO_ROOT }
