'use strict'

// The package as npm publishes it: its metadata, the files in the tarball, and
// its types as TypeScript resolves them from CommonJS and from ESM
// (arethetypeswrong on the packed tarball, then a real ESM consumer).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const root = path.resolve(__dirname, '..')
const pkg = require('../package.json')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')

let work
let tarball
let packedFiles

test.before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-pack-'))
  // --ignore-scripts: `prepare` would rebuild the addon, and the tarball holds no binary anyway.
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' })
  assert.equal(pack.status, 0, pack.stderr)
  const [info] = JSON.parse(pack.stdout)
  tarball = path.join(work, info.filename)
  packedFiles = info.files.map((f) => f.path).sort()
})

test.after(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true })
})

test('package.json has what the registry and provenance publishing need', () => {
  assert.equal(pkg.license, 'MIT')
  assert.match(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} rusque contributors/)
  assert.equal(pkg.repository.type, 'git')
  assert.match(pkg.repository.url, /^git\+https:\/\/.+\.git$/)
  assert.match(pkg.homepage, /^https:\/\//)
  assert.match(pkg.bugs.url, /^https:\/\//)
  // Node 18 is end of life; sharp and piscina need 20.
  assert.equal(pkg.engines.node, '>=20')
  // node-resque: only for plugins by name and rusque/resque users; never installed for them.
  assert.ok(pkg.peerDependencies['node-resque'])
  assert.deepEqual(pkg.peerDependenciesMeta['node-resque'], { optional: true })
  assert.equal(pkg.dependencies['node-resque'], undefined)
  assert.match(fs.readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8'), /^# Changelog\n[\s\S]*\n## \[Unreleased\]\n/)
})

test('the tarball holds the JS surface, its types, LICENSE and CHANGELOG, and nothing else', () => {
  for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'binding.js', 'lib/load.js']) {
    assert.ok(packedFiles.includes(f), `tarball has ${f}`)
  }
  // The JS loop reads its Redis scripts from lua/ at run time.
  for (const f of fs.readdirSync(path.join(root, 'lua'))) assert.ok(packedFiles.includes(`lua/${f}`), `tarball has lua/${f}`)
  const stray = packedFiles.filter((f) => !/^(package\.json|README\.md|LICENSE|CHANGELOG\.md|(index|resque)\.(js|mjs|d\.ts|d\.mts)|binding\.js|lib\/.+\.js|lua\/[\w-]+\.lua)$/.test(f))
  assert.deepEqual(stray, [], 'no tests, sources, fixtures or binaries in the tarball')
})

test('arethetypeswrong finds no problem in the packed tarball (node10, node16 CJS and ESM, bundler)', () => {
  const cli = path.join(path.dirname(require.resolve('@arethetypeswrong/cli/package.json', { paths: [root] })), 'dist', 'index.js')
  const run = spawnSync(process.execPath, [cli, tarball, '--format', 'json'], { cwd: work, encoding: 'utf8' })
  const report = JSON.parse(run.stdout)
  assert.deepEqual(report.analysis.problems, [], JSON.stringify(report.analysis.problems, null, 2))
  assert.equal(run.status, 0, run.stderr)
  const kinds = report.analysis.entrypoints['.'].resolutions
  assert.equal(kinds['node16-esm'].resolution.fileName, '/node_modules/rusque/index.d.mts')
  assert.equal(kinds['node16-cjs'].resolution.fileName, '/node_modules/rusque/index.d.ts')
  const resque = report.analysis.entrypoints['./resque'].resolutions
  assert.equal(resque['node16-esm'].resolution.fileName, '/node_modules/rusque/resque.d.mts')
  assert.equal(resque['node16-cjs'].resolution.fileName, '/node_modules/rusque/resque.d.ts')
})

test('an ESM TypeScript consumer type-checks: named and default imports, await using', () => {
  const app = path.join(work, 'app')
  fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true })
  const untar = spawnSync('tar', ['xzf', tarball, '-C', path.join(app, 'node_modules')])
  assert.equal(untar.status, 0, String(untar.stderr))
  fs.renameSync(path.join(app, 'node_modules', 'package'), path.join(app, 'node_modules', 'rusque'))
  // The package's own type dependencies, from this checkout.
  for (const dep of ['@types', 'ioredis', 'node-resque']) fs.symlinkSync(path.join(root, 'node_modules', dep), path.join(app, 'node_modules', dep), 'dir')
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ type: 'module' }))
  fs.writeFileSync(path.join(app, 'main.mts'), `
import rusque, { resize, buildInfo, JobQueue, Worker, type BuildInfo, type ResizeOptions } from 'rusque'
import { Worker as ResqueWorker, Queue, type ParsedJob } from 'rusque/resque'

// rusque/resque: rusque's Worker under node-resque's name, node-resque's Queue beside it.
export function migrated (): [typeof Worker, Queue, ParsedJob | null] {
  const W: typeof Worker = ResqueWorker
  return [W, new Queue({ connection: { host: '127.0.0.1' } }), null]
}

const options: ResizeOptions = { width: 10 }
const info: BuildInfo = buildInfo()
const jpegSimd: boolean = info.simd.jpeg
export async function run (input: Buffer): Promise<Buffer> {
  await using queue = new JobQueue({ concurrency: 1 })
  await using worker = new Worker({ connection: { host: '127.0.0.1' }, queues: ['q'] }, {})
  void worker
  void jpegSimd
  const viaDefault: typeof resize = rusque.resize
  await viaDefault(input, options)
  return queue.add('resize', input, options)
}
`)
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', lib: ['es2022', 'esnext.disposable'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], skipLibCheck: false },
    files: ['main.mts']
  }))
  const check = spawnSync(process.execPath, [tsc, '-p', app, '--traceResolution'], { cwd: app, encoding: 'utf8' })
  assert.equal(check.status, 0, check.stdout.split('\n').filter((l) => /error TS/.test(l)).join('\n') || check.stderr)
  assert.match(check.stdout, /Module name 'rusque' was successfully resolved to '[^']*\/node_modules\/rusque\/index\.d\.mts'/)
  assert.match(check.stdout, /Module name 'rusque\/resque' was successfully resolved to '[^']*\/node_modules\/rusque\/resque\.d\.mts'/)
})
