'use strict'

// The release layout: one npm package per prebuilt platform, the built binary
// checked from its ELF headers, the loader's error when no binary fits, and
// the release workflow building exactly the configured targets.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const elf = require('../scripts/check-elf')
const { platformOfTriple, currentPlatform, loadErrorMessage } = require('../lib/load')

const root = path.resolve(__dirname, '..')
const pkg = require('../package.json')
const REQUIRED = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc']

test('napi.targets covers every required platform, each with its npm/<platform> package', () => {
  const platforms = pkg.napi.targets.map(platformOfTriple)
  for (const p of REQUIRED) assert.ok(platforms.includes(p), `napi.targets includes ${p}`)
  assert.deepEqual(fs.readdirSync(path.join(root, 'npm')).sort(), platforms.slice().sort(), 'npm/ holds exactly the targets')
  for (const p of platforms) {
    const sub = JSON.parse(fs.readFileSync(path.join(root, 'npm', p, 'package.json'), 'utf8'))
    const [sys, arch, abi] = p.split('-')
    assert.equal(sub.name, `${pkg.name}-${p}`)
    assert.equal(sub.version, pkg.version, `${sub.name} version follows the main package (napi version)`)
    assert.deepEqual(sub.os, [sys])
    assert.deepEqual(sub.cpu, [arch])
    if (sys === 'linux') assert.deepEqual(sub.libc, [abi === 'musl' ? 'musl' : 'glibc'])
    else assert.equal(sub.libc, undefined)
    assert.equal(sub.main, `${pkg.napi.binaryName}.${p}.node`)
    assert.deepEqual(sub.files, [sub.main])
    assert.equal(sub.scripts, undefined, `${sub.name} has no scripts`)
    assert.equal(sub.license, pkg.license)
  }
})

test('the main package ships the JS surface and no binary; optionalDependencies come from the release flow', () => {
  for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'lib/']) assert.ok(pkg.files.includes(f), `files has ${f}`)
  assert.ok(!pkg.files.some((f) => f.endsWith('.node') || f.startsWith('npm')))
  // Written by `napi pre-publish` at release time (see scripts/stage-release.js),
  // so a development `npm ci` never asks the registry for unpublished binaries.
  assert.equal(pkg.optionalDependencies, undefined)
  assert.match(pkg.scripts.version, /^napi version && git add npm$/, 'npm version also bumps npm/<platform> packages')
})

test('napi version carries a version bump into every npm/<platform> package', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-version-'))
  try {
    fs.cpSync(path.join(root, 'npm'), path.join(dir, 'npm'), { recursive: true })
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ ...pkg, version: '9.8.7' }, null, 2))
    const cli = require.resolve('@napi-rs/cli/package.json', { paths: [root] }).replace(/package\.json$/, 'dist/cli.js')
    const run = spawnSync(process.execPath, [cli, 'version', '--cwd', dir], { encoding: 'utf8' })
    assert.equal(run.status, 0, run.stdout + run.stderr)
    for (const p of fs.readdirSync(path.join(dir, 'npm'))) {
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'npm', p, 'package.json'), 'utf8')).version, '9.8.7', p)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the ELF reader agrees with the running node binary', () => {
  const info = elf.inspect(process.execPath)
  assert.equal(info.arch, process.arch)
  assert.equal(info.libc, currentPlatform().endsWith('musl') ? 'musl' : 'glibc')
  assert.match(info.interp, /ld-(linux|musl)/)
})

test('the built linux-x64-gnu addon is x86-64, glibc, stripped and within the size budget', { skip: currentPlatform() !== 'linux-x64-gnu' }, (t) => {
  const file = path.join(root, 'rusque.linux-x64-gnu.node')
  const info = elf.inspect(file)
  t.diagnostic(`rusque.linux-x64-gnu.node: ${info.bytes} bytes (${(info.bytes / 1048576).toFixed(2)} MiB), needs glibc ${info.glibcMax}, NEEDED ${info.needed.join(' ')}`)
  assert.deepEqual(elf.check(info, 'linux-x64-gnu'), [])
  assert.equal(info.machine, 62)
  // elf.check holds it to the size budget (scripts/check-elf.js MAX_BYTES), among the rest.
  assert.ok(info.bytes <= elf.MAX_BYTES)
  // The checker does catch a wrong platform.
  assert.deepEqual(elf.check(info, 'linux-arm64-musl'), ['arch is x64, expected arm64', 'libc is glibc, expected musl'])
})

test('check-elf --expect fails on a mismatch', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-elf-'))
  try {
    // The host's node binary, named as if it were an arm64 musl addon.
    const fake = path.join(dir, 'rusque.linux-arm64-musl.node')
    fs.copyFileSync(process.execPath, fake)
    const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-elf.js'), '--expect', fake], { encoding: 'utf8' })
    assert.equal(run.status, 1)
    const [line] = run.stdout.trim().split('\n')
    const problems = JSON.parse(line).problems
    assert.ok(problems.some((p) => /program interpreter/.test(p)), problems.join('; '))
    assert.ok(problems.includes(`libc is glibc, expected musl`) || currentPlatform().endsWith('musl'), problems.join('; '))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('when no binary loads, the error names the platform and the package to install', () => {
  const run = spawnSync(process.execPath, ['-e', `
    try { require('./lib/load').load(); console.log('{}') }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, platform: e.platform, cause: String(e.cause && e.cause.message) })) }`],
  { cwd: root, encoding: 'utf8', env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: path.join(os.tmpdir(), 'no-such-rusque.node') } })
  const err = JSON.parse(run.stdout)
  const here = currentPlatform()
  assert.equal(err.code, 'ERR_RUSQUE_NATIVE_LOAD')
  assert.equal(err.platform, here)
  assert.ok(err.message.includes(`for ${here} (package rusque-${here})`), err.message)
  assert.match(err.cause, /Cannot find native binding/)

  const unsupported = loadErrorMessage('rusque', 'freebsd-x64', pkg.napi.targets.map(platformOfTriple))
  assert.match(unsupported, /^rusque has no prebuilt binary for freebsd-x64 /)
  assert.match(unsupported, /Prebuilt platforms: linux-x64-gnu, linux-x64-musl, linux-arm64-gnu, linux-arm64-musl, darwin-x64, darwin-arm64, win32-x64-msvc\./)
})

test('stage-release refuses a release with missing platforms unless --partial', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-stage-'))
  try {
    fs.copyFileSync(path.join(root, `rusque.${currentPlatform()}.node`), path.join(dir, `rusque.${currentPlatform()}.node`))
    const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'stage-release.js'), '--artifacts', dir, '--out', path.join(dir, 'out')], { encoding: 'utf8' })
    assert.equal(run.status, 1)
    assert.match(run.stderr, /missing artifacts for .*aarch64-apple-darwin/)
    assert.equal(fs.existsSync(path.join(dir, 'out')), false)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the release workflow builds, tests and publishes every napi target through the scripts', () => {
  const yaml = require('js-yaml')
  const wf = yaml.load(fs.readFileSync(path.join(root, '.github', 'workflows', 'release.yml'), 'utf8'))
  const build = wf.jobs.build.strategy.matrix.include
  assert.deepEqual(build.map((m) => m.platform).sort(), pkg.napi.targets.map(platformOfTriple).sort())
  const steps = (job) => wf.jobs[job].steps.map((s) => s.run || '').join('\n')
  assert.match(steps('build'), /scripts\/build-target\.sh "?\$\{\{ matrix\.platform \}\}"?/)
  const tested = wf.jobs.test.strategy.matrix.include.map((m) => m.platform)
  for (const p of pkg.napi.targets.map(platformOfTriple)) assert.ok(tested.includes(p), `${p} runs the test suite`)
  assert.match(steps('publish'), /node scripts\/stage-release\.js --artifacts \S+ --publish/)
  assert.deepEqual(wf.jobs.publish.needs.slice().sort(), ['build', 'test'])
  for (const script of ['build-target.sh', 'stage-release.js', 'check-elf.js', 'check-prebuilt.js', 'smoke.js']) assert.ok(fs.existsSync(path.join(root, 'scripts', script)))
})

test('check-prebuilt runs the native build through the smoke test', { skip: currentPlatform() !== 'linux-x64-gnu' }, () => {
  const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-prebuilt.js'), path.join(root, 'rusque.linux-x64-gnu.node')], { encoding: 'utf8', timeout: 120000 })
  assert.equal(run.status, 0, run.stdout + run.stderr)
  const report = JSON.parse(run.stdout)
  assert.equal(report.ok, true)
  assert.equal(report.how, 'node')
  assert.equal(report.checks, 6)
})

test('musl\'s loader refuses a glibc build passed off as musl', { skip: !fs.existsSync('/lib/ld-musl-x86_64.so.1') && 'no musl loader (apt-get install musl)' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-musl-'))
  try {
    const fake = path.join(dir, 'rusque.linux-x64-musl.node')
    fs.copyFileSync(path.join(root, 'rusque.linux-x64-gnu.node'), fake)
    const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-prebuilt.js'), fake], { encoding: 'utf8' })
    assert.equal(run.status, 1)
    const report = JSON.parse(run.stdout)
    assert.equal(report.ok, false)
    assert.match(report.error, /musl cannot load .* missing libraries \[[^\]]*libgcc_s\.so\.1/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
