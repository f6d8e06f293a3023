'use strict'

// Loads the napi-rs generated loader (binding.js), which picks the prebuilt
// package for this platform. Its own failure message blames an npm bug and
// never says which platform it looked for; this one names the platform, the
// package that would fit, and the platforms that ship a binary.

const path = require('node:path')
const { RusqueError } = require('./rusque-error')

const ARCH = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }

/** 'x86_64-unknown-linux-musl' → 'linux-x64-musl', as napi-rs names its packages. */
function platformOfTriple (triple) {
  const [cpu, , sys, abi] = triple.split('-')
  const arch = ARCH[cpu] || cpu
  if (sys === 'darwin') return `darwin-${arch}`
  if (sys === 'windows') return `win32-${arch}-${abi}`
  if (sys === 'linux') return `linux-${arch}-${abi === 'musl' ? 'musl' : 'gnu'}`
  return `${sys}-${arch}`
}

function isMusl () {
  if (process.platform !== 'linux') return false
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
  return !(report && report.header && report.header.glibcVersionRuntime)
}

/** This process's platform key, e.g. 'linux-x64-gnu', 'darwin-arm64', 'win32-x64-msvc'. */
function currentPlatform () {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The message for a failed load on `here`, given the platforms that ship a binary. */
function loadErrorMessage (name, here, supported) {
  const wanted = `${name}-${here}`
  if (supported.includes(here)) {
    return `${name} could not load its native binary for ${here} (package ${wanted}). ` +
      `Check that ${wanted} is installed next to ${name} at the same version: it is an optional ` +
      'dependency, so `npm install --omit=optional`, `--no-optional` or a lockfile made on another ' +
      'platform leave it out. Reinstall without those (delete node_modules and package-lock.json if ' +
      'the lockfile came from another OS).'
  }
  return `${name} has no prebuilt binary for ${here} (Node.js ${process.version}). ` +
    `Prebuilt platforms: ${supported.join(', ') || 'none listed'}. ` +
    'To build from source, clone the repository and run `npm run build` (needs Rust, a C compiler and nasm).'
}

function load (loaderPath = path.join(__dirname, '..', 'binding.js')) {
  try {
    return require(loaderPath)
  } catch (cause) {
    let pkg = {}
    try { pkg = require('../package.json') } catch {}
    const name = pkg.name || 'rusque'
    const supported = ((pkg.napi && pkg.napi.targets) || []).map(platformOfTriple)
    const here = currentPlatform()
    // The one code not taken from the catalogue's `codes`: they come from the binding.
    const error = new RusqueError('ERR_RUSQUE_NATIVE_LOAD', loadErrorMessage(name, here, supported), { cause })
    error.platform = here
    error.packageName = `${name}-${here}`
    throw error
  }
}

module.exports = { load, currentPlatform, platformOfTriple, loadErrorMessage }
