#!/usr/bin/env node
'use strict'

// The release, minus the upload: stages a copy of the package, moves the built
// `.node` files into their npm/<platform> packages (napi artifacts), lets
// `napi pre-publish` write optionalDependencies for this version, and packs
// every package into a tarball. With --publish it publishes instead of packing
// (the release workflow's last step). The repository itself is never modified.
//
//   node scripts/stage-release.js --artifacts DIR --out DIR [--partial] [--publish] [--keep]
//
//   --artifacts DIR  where the rusque.<platform>.node files are (searched recursively,
//                    as CI's downloaded artifacts land in one folder per job)
//   --out DIR        where the tarballs go; a JSON summary is printed on stdout
//   --partial        release only the platforms found in DIR (a local check); without
//                    it every target in package.json napi.targets must be there
//   --publish        npm publish the platform packages (via napi pre-publish), then the
//                    main package; needs registry credentials (CI only)
//   --keep           keep the staging folder and print its path

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { platformOfTriple } = require('../lib/load')
const elf = require('./check-elf')

const root = path.resolve(__dirname, '..')
const napiCli = require.resolve('@napi-rs/cli/package.json', { paths: [root] }).replace(/package\.json$/, 'dist/cli.js')

// npm runs these for whoever installs the package (prepare: for git installs);
// the published main package carries none of them.
const CONSUMER_LIFECYCLE = ['preinstall', 'install', 'postinstall', 'prepare']

function parseArgs (argv) {
  const args = { partial: false, publish: false, keep: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--artifacts' || a === '--out') args[a.slice(2)] = path.resolve(argv[++i])
    else if (a === '--partial' || a === '--publish' || a === '--keep') args[a.slice(2)] = true
    else throw new Error(`stage-release: unknown argument ${a}`)
  }
  if (!args.artifacts) throw new Error('stage-release: --artifacts DIR is required')
  if (!args.out && !args.publish) throw new Error('stage-release: --out DIR is required (or --publish)')
  return args
}

function findArtifacts (dir, binaryName) {
  const found = new Map()
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name)
      if (entry.isDirectory()) walk(p)
      else if (entry.name.startsWith(binaryName + '.') && entry.name.endsWith('.node')) {
        found.set(entry.name.slice(binaryName.length + 1, -'.node'.length), p)
      }
    }
  }
  walk(dir)
  return found
}

function run (cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function stage (args) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const binaryName = pkg.napi.binaryName
  const artifacts = findArtifacts(args.artifacts, binaryName)
  const targets = pkg.napi.targets.filter((t) => artifacts.has(platformOfTriple(t)))
  const missing = pkg.napi.targets.filter((t) => !artifacts.has(platformOfTriple(t)))
  if (targets.length === 0) throw new Error(`stage-release: no ${binaryName}.<platform>.node in ${args.artifacts}`)
  if (missing.length && !args.partial) {
    throw new Error(`stage-release: missing artifacts for ${missing.join(', ')} (use --partial for a local check)`)
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-release-'))
  for (const f of [...pkg.files, 'package.json', 'README.md', 'LICENSE']) {
    const src = path.join(root, f)
    if (fs.existsSync(src)) fs.cpSync(src, path.join(dir, f), { recursive: true })
  }
  for (const t of targets) {
    const p = platformOfTriple(t)
    fs.cpSync(path.join(root, 'npm', p), path.join(dir, 'npm', p), { recursive: true })
  }
  fs.mkdirSync(path.join(dir, 'artifacts'))
  for (const t of targets) {
    const p = platformOfTriple(t)
    fs.copyFileSync(artifacts.get(p), path.join(dir, 'artifacts', `${binaryName}.${p}.node`))
  }

  const staged = { ...pkg, napi: { ...pkg.napi, targets } }
  if (staged.scripts) {
    staged.scripts = { ...staged.scripts }
    for (const s of CONSUMER_LIFECYCLE) delete staged.scripts[s]
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(staged, null, 2) + '\n')

  // napi artifacts also drops a copy of each binary beside package.json; those
  // are outside `files`, so they never reach the main tarball.
  run(process.execPath, [napiCli, 'artifacts', '--output-dir', 'artifacts', '--npm-dir', 'npm'], dir)
  const prePublish = [napiCli, 'pre-publish', '-t', 'npm', '--no-gh-release']
  if (!args.publish) prePublish.push('--skip-optional-publish')
  run(process.execPath, prePublish, dir)

  const result = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  const expectedOptional = Object.fromEntries(targets.map((t) => [`${pkg.name}-${platformOfTriple(t)}`, pkg.version]))
  for (const [name, version] of Object.entries(expectedOptional)) {
    if (!result.optionalDependencies || result.optionalDependencies[name] !== version) {
      throw new Error(`stage-release: optionalDependencies lacks ${name}@${version}: ${JSON.stringify(result.optionalDependencies)}`)
    }
  }

  const platforms = []
  for (const t of targets) {
    const p = platformOfTriple(t)
    const pdir = path.join(dir, 'npm', p)
    const ppkg = JSON.parse(fs.readFileSync(path.join(pdir, 'package.json'), 'utf8'))
    if (ppkg.version !== pkg.version) throw new Error(`stage-release: ${ppkg.name} is ${ppkg.version}, main is ${pkg.version}`)
    const file = path.join(pdir, `${binaryName}.${p}.node`)
    const entry = { platform: p, name: ppkg.name, os: ppkg.os, cpu: ppkg.cpu, libc: ppkg.libc, bytes: fs.statSync(file).size, dir: pdir }
    if (p.startsWith('linux-')) {
      const info = elf.inspect(file)
      const problems = elf.check(info, p)
      if (problems.length) throw new Error(`stage-release: ${path.basename(file)} ${problems.join('; ')}`)
      entry.elf = { arch: info.arch, libc: info.libc, glibcMax: info.glibcMax, stripped: info.stripped }
    }
    platforms.push(entry)
  }
  return { dir, pkg: result, platforms }
}

function pack (dir, out) {
  const json = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], dir)
  const [info] = JSON.parse(json)
  return { file: path.join(out, info.filename), files: info.files.map((f) => f.path), size: info.size, unpackedSize: info.unpackedSize }
}

function main () {
  const args = parseArgs(process.argv.slice(2))
  const staged = stage(args)
  try {
    const summary = {
      name: staged.pkg.name,
      version: staged.pkg.version,
      optionalDependencies: staged.pkg.optionalDependencies,
      scripts: Object.keys(staged.pkg.scripts || {}),
      platforms: staged.platforms.map(({ dir, ...rest }) => rest)
    }
    if (args.publish) {
      // napi pre-publish (above) already published each platform package.
      run('npm', ['publish', '--ignore-scripts', '--access', 'public'], staged.dir)
      summary.published = true
    } else {
      fs.mkdirSync(args.out, { recursive: true })
      summary.main = pack(staged.dir, args.out)
      for (const p of staged.platforms) p.tarball = pack(p.dir, args.out)
      summary.platforms = staged.platforms.map(({ dir, ...rest }) => rest)
    }
    if (args.keep) summary.stagingDir = staged.dir
    console.log(JSON.stringify(summary, null, 2))
  } finally {
    if (!args.keep) fs.rmSync(staged.dir, { recursive: true, force: true })
  }
}

if (require.main === module) {
  try {
    main()
  } catch (err) {
    console.error(err.stderr ? `${err.message}\n${err.stderr}` : err.message)
    process.exitCode = 1
  }
}
