'use strict'

// `npm run bench [-- <suite>... ] [--quick] [--chart=FILE | --no-chart]`
//
// Runs every benchmark/suites/*.js (or only the ones named), one after the
// other in this process, after printing the machine. A suite is a module:
//
//   module.exports = {
//     description: 'one line',
//     async run ({ log, machine, args }) {
//       return { columns, rows, notes, details }   // or just an array of rows
//     }
//   }
//
// rows are objects keyed by column (cells are strings or numbers); columns is
// [{ key, title, align }] and defaults to the rows' keys; notes are lines
// printed under the table; details is anything worth keeping. The runner
// prints the table and writes everything to .bench-out/<suite>.json, then
// draws the chart (lib/chart.js) into docs/bench.svg.

const fs = require('node:fs')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { describeMachine, formatMachine, REPO_ROOT } = require('./lib/machine')
const { markdownTable, columnsFromRows } = require('./lib/table')
const { chartPath, writeChart } = require('./lib/chart')

const SUITES_DIR = path.join(__dirname, 'suites')
const OUT_DIR = path.join(REPO_ROOT, '.bench-out')

function availableSuites () {
  return fs.readdirSync(SUITES_DIR)
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.basename(f, '.js'))
    .sort()
}

function normalise (result) {
  if (Array.isArray(result)) result = { rows: result }
  if (!result || !Array.isArray(result.rows)) throw new Error('a suite must return an array of rows or { rows, columns?, notes?, details? }')
  return {
    columns: result.columns || columnsFromRows(result.rows),
    rows: result.rows,
    notes: result.notes || [],
    details: result.details === undefined ? null : result.details
  }
}

async function main (argv) {
  const args = argv.filter((a) => a.startsWith('--'))
  const wanted = argv.filter((a) => !a.startsWith('--'))
  const suites = availableSuites()
  const unknown = wanted.filter((w) => !suites.includes(w))
  if (unknown.length) {
    console.error(`unknown suite ${unknown.join(', ')}: available suites are ${suites.join(', ')}`)
    process.exitCode = 2
    return
  }
  const selected = wanted.length ? wanted : suites

  const machine = describeMachine()
  console.log('# rusque benchmark\n')
  console.log(formatMachine(machine))

  const printed = []
  for (const name of selected) {
    const suite = require(path.join(SUITES_DIR, `${name}.js`))
    console.log(`\n## ${name}${suite.description ? `: ${suite.description}` : ''}\n`)
    const log = (...parts) => console.log(`  [${name}]`, ...parts)
    const started = new Date()
    const t0 = performance.now()
    let result
    try {
      result = normalise(await suite.run({ log, machine, args }))
    } catch (err) {
      console.error(`suite ${name} failed: ${err && err.stack ? err.stack : err}`)
      process.exitCode = 1
      continue
    }
    const seconds = (performance.now() - t0) / 1000
    log(`done in ${seconds.toFixed(1)} s`)
    fs.mkdirSync(OUT_DIR, { recursive: true })
    const file = path.join(OUT_DIR, `${name}.json`)
    fs.writeFileSync(file, JSON.stringify({ suite: name, startedAt: started.toISOString(), seconds, args, machine, ...result }, null, 2) + '\n')
    printed.push({ name, result, file })
  }

  // The tables last, together, so they are the one thing to copy.
  for (const { name, result, file } of printed) {
    console.log(`\n### ${name}\n`)
    console.log(markdownTable(result.columns, result.rows))
    if (result.notes.length) console.log('\n' + result.notes.map((n) => `- ${n}`).join('\n'))
    console.log(`\n(JSON: ${path.relative(process.cwd(), file)})`)
  }

  // The picture README shows: this run's suites, and earlier ones from the same machine.
  const chart = printed.length ? chartPath(args, REPO_ROOT, OUT_DIR) : null
  if (chart) {
    writeChart(chart, OUT_DIR, { machine, quick: args.includes('--quick') })
    console.log(`\n(chart: ${path.relative(process.cwd(), chart)})`)
  }
}

main(process.argv.slice(2)).then(() => {
  // Everything a suite starts must be stopped by the suite; if something still
  // holds the loop open, say what instead of hanging CI.
  setTimeout(() => {
    const handles = typeof process.getActiveResourcesInfo === 'function' ? process.getActiveResourcesInfo() : []
    console.error(`benchmark finished but the process is still alive after 10 s; active resources: ${handles.join(', ') || 'unknown'}`)
    process.exit(process.exitCode || 1)
  }, 10_000).unref()
}, (err) => {
  console.error(err)
  process.exitCode = 1
})
