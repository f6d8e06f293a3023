#!/usr/bin/env node
'use strict'

// `npm test`: the Node test files, then the Rust core's tests, whatever the
// Node result was, so one run reports both. Exits non-zero if either failed.
//
//   node scripts/test.js [node test files...]     default: __test__/*.test.js
//
// A test file cannot hang the run: node --test stops a file that runs past
// the timeout (its tests, hooks and exit together), and
// __test__/helpers/exit-watchdog.js fails a file whose process stays alive
// after its last hook. Files run one at a time (they start redis-servers and
// saturate the CPU pool; two cores).
//
// Environment:
//   RUSQUE_TEST_TIMEOUT     ms per test file (default 600000)
//   RUSQUE_SKIP_CARGO=1     skip the Rust tests (`cargo test -p rusque-core -p rusque-resque`)
//   CARGO_TARGET_DIR        passed through to cargo

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')

const root = path.resolve(__dirname, '..')
const TIMEOUT = Number(process.env.RUSQUE_TEST_TIMEOUT) || 600000

function testFiles (args) {
  if (args.length) return args
  const dir = path.join(root, '__test__')
  return fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join('__test__', f))
}

/** Runs cmd with stdout passed through and scanned line by line; resolves { code, lines }. */
function run (cmd, args, scan) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let rest = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      const text = rest + chunk
      const lines = text.split('\n')
      rest = lines.pop()
      for (const line of lines) scan(line)
    })
    child.on('error', (err) => {
      console.error(`${cmd}: ${err.message}`)
      resolve({ code: 127 })
    })
    child.on('close', (code, signal) => {
      if (rest) scan(rest)
      resolve({ code: code === null ? `signal ${signal}` : code })
    })
  })
}

async function main () {
  // The runner's own closing TAP summary (# tests, # pass, # fail, ...) is the
  // last thing it prints; CI reads it. Keep the tap reporter even on a TTY.
  const summary = {}
  const node = await run(process.execPath, [
    '--require', path.join(root, '__test__', 'helpers', 'exit-watchdog.js'),
    '--test', '--test-concurrency=1', `--test-timeout=${TIMEOUT}`, '--test-reporter=tap',
    ...testFiles(process.argv.slice(2))
  ], (line) => {
    const m = /^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line)
    if (m) summary[m[1]] = Number(m[2])
  })
  const nodeOk = node.code === 0

  let cargo = { code: 'skipped' }
  const rust = { passed: 0, failed: 0, ignored: 0 }
  if (process.env.RUSQUE_SKIP_CARGO !== '1') {
    cargo = await run('cargo', ['test', '-p', 'rusque-core', '-p', 'rusque-resque', '--color', 'never'], (line) => {
      const m = /^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/.exec(line)
      if (m) { rust.passed += Number(m[1]); rust.failed += Number(m[2]); rust.ignored += Number(m[3]) }
    })
  }
  const cargoOk = cargo.code === 0 || cargo.code === 'skipped'

  const fmt = (k) => `${k} ${summary[k] ?? '?'}`
  console.log('\nrusque test summary')
  console.log(`  node --test:              ${nodeOk ? 'ok' : 'FAILED'} (exit ${node.code}; ${['tests', 'pass', 'fail', 'cancelled', 'skipped'].map(fmt).join(', ')})`)
  console.log(cargo.code === 'skipped'
    ? '  cargo test (rusque-core, rusque-resque): skipped (RUSQUE_SKIP_CARGO=1)'
    : `  cargo test (rusque-core, rusque-resque): ${cargoOk ? 'ok' : 'FAILED'} (exit ${cargo.code}; ${rust.passed} passed, ${rust.failed} failed, ${rust.ignored} ignored)`)
  process.exitCode = nodeOk && cargoOk ? 0 : 1
}

main()
