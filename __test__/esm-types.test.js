'use strict'

// The two ways in besides require(): ESM named imports, and TypeScript against
// index.d.ts (type-checked, then compiled and run, so the types and the
// runtime agree).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { dir: fixturesDir } = require('./helpers/fixtures')

const root = path.resolve(__dirname, '..')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const example = path.join(root, 'examples', 'typescript')
const photo = path.join(fixturesDir, 'Landscape_1.jpg')

test('ESM: import { resize, metadata } from \'rusque\' in an .mjs file', () => {
  const run = spawnSync(process.execPath, [path.join(root, 'examples', 'esm', 'thumbnail.mjs'), photo, '120'], { encoding: 'buffer' })
  assert.equal(run.status, 0, run.stderr.toString())
  assert.match(run.stderr.toString(), /^webp 120x90, \d+ bytes/)
  const out = run.stdout
  assert.equal(out.subarray(0, 4).toString('latin1'), 'RIFF')
  assert.equal(out.subarray(8, 12).toString('latin1'), 'WEBP')
})

test('ESM: every named export matches the CommonJS export', () => {
  const code = `
    import * as esm from 'rusque'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('rusque')
    const names = Object.keys(cjs)
    console.log(JSON.stringify({ names, same: names.filter((n) => esm[n] === cjs[n]), defaultIsCjs: esm.default === cjs }))`
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr)
  const { names, same, defaultIsCjs } = JSON.parse(run.stdout)
  for (const n of ['resize', 'metadata', 'hash', 'configure', 'poolInfo', 'JobQueue', 'RusqueError', 'AbortError']) {
    assert.ok(names.includes(n), `CommonJS exports ${n}`)
  }
  assert.deepEqual(same.sort(), names.slice().sort(), 'the ESM entry re-exports every CommonJS export')
  assert.equal(defaultIsCjs, true)
})

test('TypeScript: the example using every export type-checks against index.d.ts', (t) => {
  assert.ok(fs.existsSync(path.join(root, 'index.d.ts')), 'index.d.ts exists')
  const check = spawnSync(process.execPath, [tsc, '--noEmit', '-p', example], { cwd: root, encoding: 'utf8' })
  assert.equal(check.status, 0, `tsc --noEmit:\n${check.stdout}${check.stderr}`)

  // "Every export": each value index.d.ts exports is used in the example.
  const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  const values = new Set()
  for (const m of dts.matchAll(/^export\s+(?:declare\s+)?(?:function|class|const|let|var|enum)\s+([A-Za-z_$][\w$]*)/gm)) values.add(m[1])
  for (const m of dts.matchAll(/^export\s+(?:declare\s+)?namespace\s+([A-Za-z_$][\w$]*)/gm)) values.add(m[1])
  const source = fs.readFileSync(path.join(example, 'usage.ts'), 'utf8')
  const imported = /import\s*\{([^}]*)\}\s*from\s*'rusque'/.exec(source)[1].split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('type '))
  assert.deepEqual([...values].filter((v) => !imported.includes(v)), [], 'exports of index.d.ts missing from the example')
  for (const v of imported) assert.ok(new RegExp(`\\b${v}\\b[.(]|new ${v}\\b|instanceof ${v}\\b`).test(source), `${v} is used, not just imported`)

  const untyped = Object.keys(require('..')).filter((k) => !values.has(k))
  if (untyped.length) t.diagnostic(`runtime exports without a declaration in index.d.ts yet: ${untyped.join(', ')}`)
})

test('TypeScript: the compiled example runs and prints what the types promise', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-ts-'))
  try {
    // Installed-package layout: node_modules/rusque points at this checkout.
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'rusque'), 'dir')
    const out = path.join(dir, 'dist')
    const build = spawnSync(process.execPath, [tsc, '-p', example, '--outDir', out], { cwd: root, encoding: 'utf8' })
    assert.equal(build.status, 0, build.stdout + build.stderr)
    fs.renameSync(path.join(out, 'usage.js'), path.join(dir, 'usage.js'))
    const run = spawnSync(process.execPath, [path.join(dir, 'usage.js'), photo], { cwd: dir, encoding: 'utf8', timeout: 60000 })
    assert.equal(run.status, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /^pool: 2 threads at nice 10, 0 resizes, p99 0 ms, 0 bytes reserved$/m)
    assert.match(run.stdout, /^webp 320x240, blake3 [0-9a-f]{12}, sha512 [0-9a-f]{12}$/m)
    assert.match(run.stdout, /^aborted: ABORT_ERR$/m)
    assert.match(run.stdout, /^rejected: ERR_(UNSUPPORTED_FORMAT|CORRUPT_INPUT)$/m)
    assert.match(run.stdout, /^done resize small$/m)
    assert.match(run.stdout, /^64 32 2 true 0 0 2 100 \d+ [\d.]+$/m)
    assert.match(run.stdout, /^closed: true$/m)
    assert.match(run.stdout, /^disposed: true$/m)
    assert.match(run.stdout, /^build: \S+, JPEG SIMD (on|off)$/m)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
