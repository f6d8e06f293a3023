'use strict'

// benchmark/lib/chart.js: the SVG `npm run bench` writes for the README. Fed
// small result objects shaped as the suites return them; checks the SVG is
// well-formed XML and shows every label and value, rusque's bars marked.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { renderChart, groupsOf, collectRuns, chartPath } = require('../benchmark/lib/chart')

const root = path.resolve(__dirname, '..')

/** A small XML well-formedness check: balanced tags, quoted attributes, escaped text. Returns the elements. */
function parseXml (xml) {
  const elements = []
  const stack = []
  const token = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<\/([\w:-]+)\s*>|<([\w:-]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g
  let m
  let last = 0
  while ((m = token.exec(xml)) !== null) {
    assert.equal(m.index, last, `unparsed text at ${last}: ${xml.slice(last, last + 40)}`)
    last = token.lastIndex
    const [, close, open, attrs, selfClose, text, stray] = m
    assert.equal(stray, undefined, `a stray '<' at ${m.index}: ${xml.slice(m.index, m.index + 40)}`)
    if (close) {
      assert.equal(stack.pop(), close, `</${close}> closes the wrong element at ${m.index}`)
    } else if (open) {
      const attributes = {}
      for (const a of attrs.matchAll(/([\w:-]+)="([^"]*)"/g)) {
        assert.ok(!(a[1] in attributes), `attribute ${a[1]} repeated on <${open}>`)
        assert.doesNotMatch(a[2], /&(?!(amp|lt|gt|quot|apos|#\d+);)/, `an unescaped & in ${a[1]}`)
        attributes[a[1]] = a[2]
      }
      const el = { name: open, attributes, text: '' }
      elements.push(el)
      if (!selfClose) stack.push(open)
      el.parentDepth = stack.length
    } else if (text !== undefined) {
      assert.doesNotMatch(text, /&(?!(amp|lt|gt|quot|apos|#\d+);)/, `an unescaped & in text: ${text.slice(0, 40)}`)
      if (stack.length === 0) assert.match(text, /^\s*$/, 'text outside the root element')
      const open = [...elements].reverse().find((e) => stack.length && e.name === stack[stack.length - 1])
      if (open) open.text += text
    }
  }
  assert.equal(last, xml.length, 'the whole document parses')
  assert.deepEqual(stack, [], 'every element is closed')
  assert.equal(elements[0].name, 'svg', 'the root is <svg>')
  return elements
}

const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&')

const machine = { cpuModel: 'Test CPU 3000', cores: 2, logicalCpus: 2, memoryGiB: 8, platform: 'linux 6.0 x64', node: 'v20.0.0', rusquePool: { threads: 2, nice: 10 } }
const startedAt = '2026-01-02T03:04:05.000Z'

function sampleRuns () {
  return [
    { suite: 'resize', startedAt, machine, args: [], rows: [{ id: 'throughput', rusque: '120.5', sharp: '80.2' }, { id: 'loopGapP99', rusque: '1.72', sharp: '4.85' }, { id: 'psnr', rusque: '34.9', sharp: '34.8' }] },
    { suite: 'queue', startedAt, machine, args: [], rows: [
      { metric: 'piscina 5.3.2 (2 threads, node:crypto)', value: '19582 jobs/s' },
      { metric: 'JobQueue.add, concurrency 256', value: '277641 jobs/s' },
      { metric: 'JobQueue.addBulk, concurrency 256', value: '310497 jobs/s' },
      { metric: 'event-loop utilisation, 2,000 resizes', value: '4.6%' }
    ] },
    { suite: 'worker', startedAt, machine, args: [], rows: [
      { section: 'no-op JS jobs', contender: 'rusque Worker (concurrency 16)', jobsPerSec: 43854 },
      { section: 'no-op JS jobs', contender: 'rusque Worker (concurrency 1)', jobsPerSec: 7505 },
      { section: 'no-op JS jobs', contender: 'node-resque Worker', jobsPerSec: 2911 },
      { section: 'no-op JS jobs', contender: 'BullMQ Worker <c16> & co', jobsPerSec: 22476 },
      { section: 'resize large JPEG', contender: 'rusque Worker, native resize, 1 pool thread', jobsPerSec: 66 },
      { section: 'resize large JPEG', contender: 'rusque Worker, native resize, 2 pool threads', jobsPerSec: 119 },
      { section: 'resize large JPEG', contender: 'node-resque Worker, sharp in perform', jobsPerSec: 42 }
    ] },
    { suite: 'express', startedAt, machine, args: [], rows: [
      { handler: 'await resize() (rusque)', rps: '97.4', p50: '0.9', p99: '10.9', max: '13.6', bad: 0 },
      { handler: 'jimp in the handler', rps: '1.6', p50: '2390.3', p99: '2608.6', max: '2608.6', bad: 0 }
    ] }
  ]
}

test('the chart is well-formed SVG with every label and value, rusque beside each peer', () => {
  const svg = renderChart(sampleRuns())
  const elements = parseXml(svg)
  const texts = elements.filter((e) => e.name === 'text').map((e) => unescape(e.text))
  const bars = elements.filter((e) => e.name === 'rect' && /\bbar\b/.test(e.attributes.class))

  const expected = [
    // [label, value shown, rusque?]
    ['rusque', '120.5', true], ['sharp', '80.2', false],
    ['JobQueue.add', '277,641', true], ['JobQueue.addBulk', '310,497', true], ['piscina 5.3.2', '19,582', false],
    ['rusque Worker (concurrency 16)', '43,854', true], ['node-resque Worker', '2,911', false], ['BullMQ Worker <c16> & co', '22,476', false],
    ['rusque Worker, native resize, 2 pool threads', '119', true], ['node-resque Worker, sharp in perform', '42', false],
    ['await resize() (rusque)', '97.4', true], ['jimp in the handler', '1.6', false],
    // the lag panel
    ['rusque', '1.72', true], ['sharp', '4.85', false],
    ['await resize() (rusque)', '10.9', true], ['jimp in the handler', '2,609', false]
  ]
  assert.equal(bars.length, expected.length, 'one bar per contender and metric')
  for (const [label, value] of expected) {
    assert.ok(texts.includes(label), `label ${label}`)
    assert.ok(texts.includes(value), `value ${value}`)
  }
  // Bars in the order drawn: rusque's are orange ("ours"), the peers' grey.
  assert.deepEqual(bars.map((b) => /ours/.test(b.attributes.class)), expected.map((e) => e[2]))
  // rusque's slower configurations stay out; each group's largest value is the longest bar.
  assert.ok(!texts.includes('rusque Worker (concurrency 1)'))
  assert.ok(!texts.includes('rusque Worker, native resize, 1 pool thread'))
  const width = (i) => Number(bars[i].attributes.width)
  assert.equal(width(0), 440)
  assert.ok(Math.abs(width(1) - 440 * 80.2 / 120.5) < 0.1, 'sharp\'s bar is to scale')
  assert.ok(width(14) >= 2, 'a tiny value still shows a bar')

  for (const heading of ['Throughput (higher is better)', 'Event-loop lag, p99 (lower is better)']) assert.ok(texts.includes(heading), heading)
  assert.ok(texts.some((t) => t.includes('Test CPU 3000, 2 cores') && t.includes('Node v20.0.0')), 'the machine line')
  assert.ok(texts.some((t) => t.includes('2026-01-02')), 'the date')
  assert.ok(texts.some((t) => t.includes('docs/benchmarks.md')), 'where the numbers are')
})

test('a partial run draws what it has; a note becomes a caption line', () => {
  const [resize] = sampleRuns()
  assert.deepEqual(groupsOf(resize).map((g) => g.panel), ['throughput', 'lag'])
  const svg = renderChart([resize], { note: 'Drawn from the run recorded in docs/benchmarks.md' })
  const texts = parseXml(svg).filter((e) => e.name === 'text').map((e) => unescape(e.text))
  assert.ok(texts.includes('Drawn from the run recorded in docs/benchmarks.md'))
  assert.ok(!texts.some((t) => t.startsWith('queue:') || t.startsWith('worker:')))
  // A suite whose rows lack the numbers (a failed row) leaves its group out rather than drawing NaN.
  const broken = renderChart([{ suite: 'queue', startedAt, machine, rows: [{ metric: 'RSS growth', value: 'failed: x' }] }])
  assert.doesNotMatch(broken, /NaN/)
  assert.match(broken, /No benchmark results to draw/)
  parseXml(renderChart([]))
})

test('runs from earlier suites join only when measured on the same machine, quick runs apart', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-chart-'))
  try {
    const [resize, queue, worker, express] = sampleRuns()
    fs.writeFileSync(path.join(dir, 'resize.json'), JSON.stringify(resize))
    fs.writeFileSync(path.join(dir, 'queue.json'), JSON.stringify({ ...queue, machine: { ...machine, cpuModel: 'Other CPU' } }))
    fs.writeFileSync(path.join(dir, 'worker.json'), JSON.stringify({ ...worker, args: ['--quick'] }))
    fs.writeFileSync(path.join(dir, 'express.json'), JSON.stringify(express))
    fs.writeFileSync(path.join(dir, 'notes.json'), '{ not json')
    assert.deepEqual(collectRuns(dir, { machine }).map((r) => r.suite).sort(), ['express', 'resize'])
    assert.deepEqual(collectRuns(dir, { machine, quick: true }).map((r) => r.suite), ['worker'])
    assert.equal(collectRuns(path.join(dir, 'missing'), { machine }).length, 0)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('npm run bench writes docs/bench.svg unless told otherwise', () => {
  const out = path.join(root, '.bench-out')
  assert.equal(chartPath([], root, out), path.join(root, 'docs', 'bench.svg'))
  assert.equal(chartPath(['--quick'], root, out), path.join(out, 'bench.svg'))
  assert.equal(chartPath(['--chart=/tmp/x.svg', '--quick'], root, out), '/tmp/x.svg')
  assert.equal(chartPath(['--no-chart'], root, out), null)
})

test('the committed docs/bench.svg is well-formed and shows every suite', () => {
  const svg = fs.readFileSync(path.join(root, 'docs', 'bench.svg'), 'utf8')
  const texts = parseXml(svg).filter((e) => e.name === 'text').map((e) => unescape(e.text))
  for (const prefix of ['resize:', 'queue:', 'worker:', 'express:']) assert.ok(texts.some((t) => t.startsWith(prefix)), prefix)
})
