'use strict'

// The benchmark results as one picture: an SVG (no dependency, no script, no
// external font) with rusque beside each peer, throughput per suite and the
// event-loop lag, plus the machine and the date. `npm run bench` writes it to
// docs/bench.svg, which the README shows; the numbers themselves stay in
// docs/benchmarks.md.
//
// Input: suite runs as the runner writes them to .bench-out/<suite>.json,
// `{ suite, startedAt, args, machine, rows, ... }`. Each group is drawn on its
// own scale (the longest bar of a group is its largest value), because peers
// differ by orders of magnitude (jimp's lag is 2.6 s, rusque's 11 ms); every
// bar carries its value.
//
//   node benchmark/lib/chart.js [.bench-out] [docs/bench.svg]   redraw without running

const fs = require('node:fs')
const path = require('node:path')

const SUITES = ['resize', 'queue', 'worker', 'express']

/** A number from a table cell: 123.1, '277641 jobs/s', '1.72'. */
function num (cell) {
  if (typeof cell === 'number') return cell
  const m = /-?\d+(?:\.\d+)?/.exec(String(cell ?? '').replace(/,/g, ''))
  return m ? Number(m[0]) : NaN
}

const isRusque = (label) => /rusque|JobQueue/.test(label)

/**
 * The groups each suite's rows give: { panel: 'throughput' | 'lag', title,
 * unit, bars: [{ label, value, rusque }] }. Rows a suite did not produce (a
 * partial run) leave their group out.
 */
function groupsOf (run) {
  const rows = Array.isArray(run.rows) ? run.rows : []
  const groups = []
  const add = (panel, title, unit, bars) => {
    bars = bars.filter((b) => b && Number.isFinite(b.value))
    if (bars.length >= 2) groups.push({ panel, title, unit, bars, suite: run.suite, startedAt: run.startedAt })
  }
  if (run.suite === 'resize') {
    const byId = (id) => rows.find((r) => r.id === id)
    const pair = (row) => row ? [{ label: 'rusque', value: num(row.rusque), rusque: true }, { label: 'sharp', value: num(row.sharp), rusque: false }] : []
    add('throughput', 'resize: 2725x2225 JPEG → 720x588, at saturation', 'images/s', pair(byId('throughput')))
    add('lag', 'resize: event-loop gap p99 at saturation', 'ms', pair(byId('loopGapP99')))
  } else if (run.suite === 'queue') {
    const find = (prefix) => rows.find((r) => String(r.metric).startsWith(prefix))
    const bar = (row, label) => row && { label, value: num(row.value), rusque: isRusque(label) }
    const peer = find('piscina')
    add('throughput', 'queue: 100,000 tiny sha256 jobs', 'jobs/s', [
      bar(find('JobQueue.add, concurrency'), 'JobQueue.add'),
      bar(find('JobQueue.addBulk'), 'JobQueue.addBulk'),
      bar(peer, peer ? String(peer.metric).replace(/\s*\(.*$/, '') : '')
    ])
  } else if (run.suite === 'worker') {
    const sections = []
    for (const r of rows) if (!sections.includes(r.section)) sections.push(r.section)
    for (const section of sections) {
      const inSection = rows.filter((r) => r.section === section)
      // rusque's fastest configuration beside every peer.
      const ours = inSection.filter((r) => isRusque(r.contender)).sort((a, b) => num(b.jobsPerSec) - num(a.jobsPerSec))[0]
      const peers = inSection.filter((r) => !isRusque(r.contender))
      add('throughput', `worker: ${section}`, 'jobs/s', [ours, ...peers].filter(Boolean).map((r) => ({ label: r.contender, value: num(r.jobsPerSec), rusque: isRusque(r.contender) })))
    }
  } else if (run.suite === 'express') {
    const ours = rows.find((r) => isRusque(r.handler))
    const peers = rows.filter((r) => r !== ours)
    const bars = (key) => [ours, ...peers].filter(Boolean).map((r) => ({ label: r.handler, value: num(r[key]), rusque: r === ours }))
    add('throughput', 'express: an Express 5 server resizing uploads', 'resizes/s', bars('rps'))
    add('lag', 'express: GET /health p99 while the server resizes', 'ms', bars('p99'))
  }
  return groups
}

function esc (s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function fmt (n) {
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en')
  return String(+n.toPrecision(Math.abs(n) >= 100 ? 4 : 3))
}

const day = (iso) => (iso ? String(iso).slice(0, 10) : 'undated')

function machineLine (m) {
  if (!m) return 'machine unknown'
  const pool = m.rusquePool && !m.rusquePool.error ? `, rusque pool ${m.rusquePool.threads} threads at nice ${m.rusquePool.nice}` : ''
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB · ${m.platform} · Node ${m.node}${pool}`
}

/**
 * The SVG for some suite runs (any subset, in any order).
 * options.note: an extra caption line (where the numbers come from).
 */
function renderChart (runs, options = {}) {
  runs = SUITES.map((s) => runs.find((r) => r && r.suite === s)).filter(Boolean)
  const groups = runs.flatMap(groupsOf)
  const dates = [...new Set(runs.map((r) => day(r.startedAt)))].sort()
  const W = 900
  const LABEL_X = 336 // right edge of the labels
  const BAR_X = 346
  const BAR_W = 440
  const BAR_H = 16
  const ROW = 22
  const out = []
  let y = 0
  const text = (x, yy, s, attrs = '') => out.push(`<text x="${x}" y="${yy}"${attrs ? ' ' + attrs : ''}>${esc(s)}</text>`)

  y += 30
  text(20, y, 'rusque beside its peers', 'class="title"')
  y += 20
  text(20, y, machineLine(runs[0] && runs[0].machine), 'class="sub"')
  y += 16
  text(20, y, `npm run bench, ${dates.length > 1 ? `${dates[0]} to ${dates[dates.length - 1]}` : dates[0] || 'no results'} · each group on its own scale · medians`, 'class="sub"')
  if (options.note) {
    y += 16
    text(20, y, options.note, 'class="sub"')
  }

  const panels = [
    ['throughput', 'Throughput (higher is better)'],
    ['lag', 'Event-loop lag, p99 (lower is better)']
  ]
  for (const [panel, heading] of panels) {
    const inPanel = groups.filter((g) => g.panel === panel)
    if (!inPanel.length) continue
    y += 34
    text(20, y, heading, 'class="panel"')
    out.push(`<line x1="20" y1="${y + 6}" x2="${W - 20}" y2="${y + 6}" class="rule"/>`)
    y += 8
    for (const g of inPanel) {
      y += 24
      const when = dates.length > 1 ? ` (${day(g.startedAt)})` : ''
      text(20, y, `${g.title}, ${g.unit}${when}`, 'class="group"')
      y += 6
      const max = Math.max(...g.bars.map((b) => b.value))
      for (const b of g.bars) {
        const w = max > 0 ? Math.max(2, (b.value / max) * BAR_W) : 2
        text(LABEL_X, y + 12.5, b.label, `class="label${b.rusque ? ' ours' : ''}" text-anchor="end"`)
        out.push(`<rect x="${BAR_X}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" rx="2" class="${b.rusque ? 'bar ours' : 'bar'}"/>`)
        text((BAR_X + w + 6).toFixed(1), y + 12.5, fmt(b.value), `class="value${b.rusque ? ' ours' : ''}"`)
        y += ROW
      }
    }
  }
  if (!groups.length) {
    y += 40
    text(20, y, 'No benchmark results to draw.', 'class="group"')
  }
  y += 24
  text(20, y, 'Numbers, machine and commands: docs/benchmarks.md', 'class="sub"')
  y += 16

  const style = [
    'text { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #24292f; }',
    '.title { font-size: 20px; font-weight: 600; }',
    '.sub { font-size: 11.5px; fill: #57606a; }',
    '.panel { font-size: 15px; font-weight: 600; }',
    '.group { font-size: 12.5px; font-weight: 600; }',
    '.label, .value { font-size: 12px; }',
    '.ours { font-weight: 600; }',
    '.bar { fill: #8c959f; }',
    '.bar.ours { fill: #d9531e; }',
    '.rule { stroke: #d0d7de; stroke-width: 1; }'
  ].join('\n')
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Math.ceil(y)}" viewBox="0 0 ${W} ${Math.ceil(y)}" role="img" aria-label="rusque benchmark results">`,
    `<title>rusque benchmarks: ${esc(groups.map((g) => g.title).join('; '))}</title>`,
    `<style>\n${style}\n</style>`,
    `<rect width="${W}" height="${Math.ceil(y)}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    ''
  ].join('\n')
}

const sameMachine = (a, b) => !!a && !!b && a.cpuModel === b.cpuModel && a.cores === b.cores && a.memoryGiB === b.memoryGiB

/**
 * The runs to draw from a results folder: the newest run of each suite that
 * was measured on `machine` (when given) and is a quick run only when
 * `quick` is true, so a one-suite run keeps the other panels of the last full run.
 */
function collectRuns (dir, { machine, quick = false } = {}) {
  if (!fs.existsSync(dir)) return []
  const runs = []
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json')) continue
    let run
    try {
      run = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))
    } catch {
      continue
    }
    if (!run || !SUITES.includes(run.suite)) continue
    if (machine && !sameMachine(run.machine, machine)) continue
    if ((Array.isArray(run.args) && run.args.includes('--quick')) !== quick) continue
    runs.push(run)
  }
  return runs
}

/**
 * Where the runner writes the chart, from its arguments: --chart=FILE,
 * --no-chart (null), else docs/bench.svg, or .bench-out/bench.svg for --quick
 * runs (quick numbers are not for the README).
 */
function chartPath (args, repoRoot, outDir) {
  if (args.includes('--no-chart')) return null
  const given = args.find((a) => a.startsWith('--chart='))
  if (given) return path.resolve(given.slice('--chart='.length))
  return args.includes('--quick') ? path.join(outDir, 'bench.svg') : path.join(repoRoot, 'docs', 'bench.svg')
}

/** Draws the runs in `outDir` measured on `machine` into `file`; returns the groups drawn. */
function writeChart (file, outDir, { machine, quick = false, note } = {}) {
  const runs = collectRuns(outDir, { machine, quick })
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, renderChart(runs, { note }))
  return runs.flatMap(groupsOf).length
}

module.exports = { renderChart, groupsOf, collectRuns, chartPath, writeChart }

if (require.main === module) {
  const root = path.join(__dirname, '..', '..')
  const [dir = path.join(root, '.bench-out'), file = path.join(root, 'docs', 'bench.svg')] = process.argv.slice(2)
  const runs = collectRuns(dir, {})
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, renderChart(runs))
  console.log(`${file}: ${runs.flatMap(groupsOf).length} groups from ${runs.length} suite runs in ${dir}`)
}
