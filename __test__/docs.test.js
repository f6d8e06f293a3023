'use strict'

// Every code example in README.md and docs/*.md runs here, so an example can
// never rot; the conventions are in docs/README.md ("Code blocks are tests"):
// - ```js / ```javascript / ```mjs / ```ts blocks run as standalone scripts,
//   from the repository root (so `fixtures/images/...` paths work), written
//   into a temp dir inside the checkout so `require('rusque')` and
//   `import 'rusque'` resolve to this checkout (a package may import itself by
//   its name) and express, node-resque... to its node_modules. A block with
//   `import`/`export` statements (or ```mjs) runs as ESM; ```ts is
//   type-checked against index.d.ts, then compiled to CommonJS and run.
// - A block that mentions REDIS_PORT gets the port of a private redis-server
//   (flushed before each block); every block gets PORT=0.
// - A block must exit 0 within the timeout, writing nothing to stderr. A
//   ```text output block right after it lists lines its stdout must contain
//   (in any order; `…` matches anything).
// - ```<lang> skip-test <reason> marks a block that cannot run; they are listed.
// - Shell blocks are not run, but each `npm run X` / `npm start|test` they
//   mention must be a script of package.json.
// Also: every relative link and image in these files points at a file that
// exists, and every #anchor at a heading of its target.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { startRedis } = require('./helpers/redis')

const root = path.resolve(__dirname, '..')
const TIMEOUT_MS = 60_000
const RUNNABLE = new Set(['js', 'javascript', 'mjs', 'ts'])
const SHELL = new Set(['sh', 'bash', 'shell', 'console'])

function markdownFiles () {
  const docs = path.join(root, 'docs')
  const files = [path.join(root, 'README.md')]
  if (fs.existsSync(docs)) {
    for (const f of fs.readdirSync(docs).sort()) if (f.endsWith('.md')) files.push(path.join(docs, f))
  }
  return files
}

/** Fenced blocks: { file, line (of the opening fence), lang, flags, code }. */
function codeBlocks (file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i])
    if (!open) continue
    const [, indent, fence, info] = open
    const body = []
    let j = i + 1
    while (j < lines.length && !(lines[j].trim().startsWith(fence) && lines[j].trim().replace(/[`~]/g, '') === '')) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j])
      j++
    }
    const [lang = '', ...flags] = info.trim().split(/\s+/)
    blocks.push({ file: path.relative(root, file), line: i + 1, endLine: j + 1, lang: lang.toLowerCase(), flags, code: body.join('\n') + '\n' })
    i = j
  }
  // A ```text output block right after a runnable block holds what it prints.
  for (let k = 0; k + 1 < blocks.length; k++) {
    const next = blocks[k + 1]
    if (next.lang === 'text' && next.flags[0] === 'output' && RUNNABLE.has(blocks[k].lang)) {
      const between = fs.readFileSync(path.join(root, blocks[k].file), 'utf8').split('\n').slice(blocks[k].endLine, next.line - 1)
      if (between.every((l) => l.trim() === '')) blocks[k].expected = next.code.split('\n').filter((l) => l.trim() !== '')
    }
  }
  return blocks
}

const allBlocks = markdownFiles().flatMap(codeBlocks)
const runnable = allBlocks.filter((b) => RUNNABLE.has(b.lang))
const skipped = runnable.filter((b) => b.flags[0] === 'skip-test')
const toRun = runnable.filter((b) => b.flags[0] !== 'skip-test')

const isEsm = (b) => b.lang === 'mjs' || (b.lang !== 'ts' && /^\s*(import\s[^(]|export\s)/m.test(b.code))
const blockName = (b) => `${b.file.replace(/[^\w]+/g, '_')}_L${b.line}`

let workDir = null
function scratch () {
  if (!workDir) workDir = fs.mkdtempSync(path.join(root, '.doc-test-'))
  return workDir
}

let redis = null
async function redisPort () {
  if (!redis) redis = await startRedis()
  const c = redis.client()
  await c.flushall()
  c.disconnect()
  return redis.port
}

test.after(async () => {
  if (redis) await redis.close()
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true })
})

function run (file, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => { stderr += `\n[killed after ${TIMEOUT_MS / 1000} s]`; child.kill('SIGKILL') }, TIMEOUT_MS)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

function matches (expected, lines) {
  const re = new RegExp('^' + expected.trim().split('…').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')
  return lines.some((l) => re.test(l.trim()))
}

// TypeScript blocks: one type-check of all of them against index.d.ts (the
// compiler options of examples/typescript), then each is compiled alone.
let tsChecked = null
function typeCheck () {
  if (tsChecked) return tsChecked
  const dir = scratch()
  const files = toRun.filter((b) => b.lang === 'ts').map((b) => {
    const f = path.join(dir, `${blockName(b)}.ts`)
    fs.writeFileSync(f, b.code)
    return f
  })
  const { compilerOptions } = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'typescript', 'tsconfig.json'), 'utf8'))
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, noEmit: true, outDir: undefined }, files }))
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: root, encoding: 'utf8' })
  tsChecked = { ok: r.status === 0, output: r.stdout + r.stderr }
  return tsChecked
}

for (const b of toRun) {
  test(`${b.file}:${b.line} (${b.lang}${isEsm(b) ? ', ESM' : ''}) runs`, async () => {
    const dir = scratch()
    let file
    if (b.lang === 'ts') {
      const checked = typeCheck()
      assert.ok(checked.ok, `${b.file}:${b.line}: TypeScript blocks do not type-check:\n${checked.output}`)
      const ts = require('typescript')
      const js = ts.transpileModule(b.code, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText
      file = path.join(dir, `${blockName(b)}.ts.js`)
      fs.writeFileSync(file, js)
    } else {
      file = path.join(dir, `${blockName(b)}.${isEsm(b) ? 'mjs' : 'js'}`)
      fs.writeFileSync(file, b.code)
    }
    const env = { PORT: '0' }
    if (b.code.includes('REDIS_PORT')) env.REDIS_PORT = String(await redisPort())
    const r = await run(file, env)
    const where = `${b.file}:${b.line}`
    assert.equal(r.code, 0, `${where} exited with ${r.code ?? r.signal}\n--- stderr\n${r.stderr}\n--- stdout\n${r.stdout}`)
    assert.equal(r.stderr, '', `${where} wrote to stderr:\n${r.stderr}`)
    if (b.expected) {
      const lines = r.stdout.split('\n')
      const missing = b.expected.filter((e) => !matches(e, lines))
      assert.deepEqual(missing, [], `${where}: stdout lacks lines its output block promises\n--- stdout\n${r.stdout}`)
    }
  })
}

test('skipped code blocks say why (at most a handful)', (t) => {
  for (const b of skipped) {
    t.diagnostic(`skipped ${b.file}:${b.line}: ${b.flags.slice(1).join(' ')}`)
    assert.ok(b.flags.length > 1, `${b.file}:${b.line}: skip-test needs a reason after it`)
  }
  assert.ok(skipped.length <= 5, `${skipped.length} skipped blocks: make them run instead`)
})

test('README and docs have runnable examples, each with a language tag', () => {
  const files = new Set(toRun.map((b) => b.file))
  assert.ok(files.has('README.md'), 'README.md has runnable examples')
  for (const f of ['docs/api.md', 'docs/resque.md']) assert.ok(files.has(f), `${f} has runnable examples`)
  const untagged = allBlocks.filter((b) => b.lang === '')
  assert.deepEqual(untagged.map((b) => `${b.file}:${b.line}`), [], 'code blocks without a language (use text, sh, js...)')
})

test('README stays the page a user reads: at most 400 lines, depth in docs/', () => {
  const lines = fs.readFileSync(path.join(root, 'README.md'), 'utf8').split('\n').length
  assert.ok(lines <= 400, `README.md has ${lines} lines: move depth to docs/`)
})

test('shell blocks only mention npm scripts that exist', () => {
  const scripts = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).scripts
  const missing = []
  for (const b of allBlocks.filter((x) => SHELL.has(x.lang))) {
    for (const m of b.code.matchAll(/\bnpm\s+(?:run(?:-script)?\s+([\w:.-]+)|(start|test|stop|restart)\b)/g)) {
      const name = m[1] || m[2]
      if (!scripts[name]) missing.push(`${b.file}:${b.line}: npm script "${name}"`)
    }
  }
  assert.deepEqual(missing, [])
})

// GitHub's heading anchors: lower case, punctuation dropped, spaces to '-',
// repeated headings numbered.
function anchors (file) {
  const seen = new Map()
  const out = new Set()
  let inFence = false
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) inFence = !inFence
    if (inFence) continue
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (!h) continue
    const text = h[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    let slug = text.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '').replace(/\s/g, '-')
    const n = seen.get(slug) || 0
    seen.set(slug, n + 1)
    if (n) slug = `${slug}-${n}`
    out.add(slug)
  }
  return out
}

test('relative links and images point at files and headings that exist', () => {
  const broken = []
  for (const file of markdownFiles()) {
    const text = fs.readFileSync(file, 'utf8').replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, '').replace(/`[^`\n]*`/g, '')
    for (const m of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]
      if (/^[a-z][\w+.-]*:/i.test(target)) continue // http:, https:, mailto:
      const [rel, anchor] = target.split('#')
      const dest = rel ? path.resolve(path.dirname(file), decodeURIComponent(rel)) : file
      const where = `${path.relative(root, file)}: ${target}`
      if (!fs.existsSync(dest)) { broken.push(`${where} (no such file)`); continue }
      if (anchor !== undefined && dest.endsWith('.md') && !anchors(dest).has(anchor)) broken.push(`${where} (no such heading)`)
    }
  }
  assert.deepEqual(broken, [])
})
