'use strict'

// Every Redis script lives in lua/, one file each, and nowhere else: the JS
// loop loads them in lib/resque/scripts.js, the Rust loop includes them in
// crates/resque/src/worker.rs. This file keeps it that way: no Lua text in
// JS or Rust sources, a header on every script naming its KEYS, ARGV and
// reply, every script loaded by a loop, and every script as each loop
// composes it (step-id.lua prepended to a step) accepted by a real Redis.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { startRedis } = require('./helpers/redis')
const scripts = require('../lib/resque/scripts')

const root = path.resolve(__dirname, '..')
const LUA = path.join(root, 'lua')
const RUST_LOADER = path.join(root, 'crates', 'resque', 'src', 'worker.rs')

// Text that only Lua run by Redis contains. (ioredis' generic `redis.call()`
// matches too: in lib/, call it on a client named otherwise.)
const LUA_MARKS = [/redis\.p?call\(/, /KEYS\[/, /ARGV\[/]

/** Files under `dir` (recursively) whose name ends with one of `exts`. */
function sources (dir, exts) {
  const out = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'target') out.push(...sources(p, exts))
    } else if (exts.some((e) => entry.name.endsWith(e))) {
      out.push(p)
    }
  }
  return out
}

const luaFiles = fs.readdirSync(LUA).filter((f) => f.endsWith('.lua')).sort()
const rustLoader = fs.readFileSync(RUST_LOADER, 'utf8')
const jsLoader = fs.readFileSync(path.join(root, 'lib', 'resque', 'scripts.js'), 'utf8')

/** The Rust loop's scripts as it composes them: each `const X: &str = ...` of include_str!s. */
function rustScripts () {
  const out = {}
  for (const [, name, body] of rustLoader.matchAll(/const (\w+): &str = ((?:concat!\()?include_str!\([\s\S]*?\);)/g)) {
    const parts = [...body.matchAll(/include_str!\("([^"]+)"\)/g)].map(([, rel]) => path.resolve(path.dirname(RUST_LOADER), rel))
    out[name] = parts.map((p) => fs.readFileSync(p, 'utf8')).join('')
  }
  return out
}

describe('Redis scripts live in lua/', () => {
  it('no JS or Rust source holds Lua, and no .lua file lives outside lua/', () => {
    const files = [
      ...sources(path.join(root, 'lib'), ['.js', '.mjs', '.cjs', '.lua']),
      ...sources(path.join(root, 'src'), ['.rs', '.lua']),
      ...sources(path.join(root, 'crates'), ['.rs', '.lua']),
      path.join(root, 'index.js'),
      path.join(root, 'resque.js')
    ]
    assert.ok(files.some((f) => f.endsWith('worker.rs')) && files.some((f) => f.endsWith('worker.js')), 'the scan reaches both loops')
    const found = []
    for (const f of files) {
      const rel = path.relative(root, f)
      if (f.endsWith('.lua')) { found.push(`${rel}: a script outside lua/`); continue }
      fs.readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (LUA_MARKS.some((re) => re.test(line))) found.push(`${rel}:${i + 1}: ${line.trim()}`)
      })
    }
    assert.deepEqual(found, [], 'Lua belongs in lua/<script>.lua, loaded by lib/resque/scripts.js or include_str! in worker.rs')
  })

  it('every script opens with a header naming what it does, its KEYS, ARGV and reply', () => {
    assert.ok(luaFiles.length >= 7, `lua/ holds ${luaFiles}`)
    for (const f of luaFiles) {
      const text = fs.readFileSync(path.join(LUA, f), 'utf8')
      const header = text.slice(0, text.search(/^(?!--)/m))
      assert.ok(header.split('\n').length > 3, `${f} opens with a comment saying what it does`)
      for (const word of ['KEYS', 'ARGV', 'Returns']) assert.match(header, new RegExp(`^-- ${word}\\b`, 'm'), `${f}'s header names its ${word}`)
    }
  })

  it('every script is loaded by a loop, and step-id.lua is prepended to both steps', () => {
    for (const f of luaFiles) {
      const js = jsLoader.includes(`lua('${f}')`)
      const rust = rustLoader.includes(`include_str!("../../../lua/${f}")`)
      assert.ok(js || rust, `${f} is loaded by lib/resque/scripts.js or crates/resque/src/worker.rs`)
    }
    const stepId = fs.readFileSync(path.join(LUA, 'step-id.lua'), 'utf8')
    assert.equal(scripts.STEP, stepId + fs.readFileSync(path.join(LUA, 'step-js.lua'), 'utf8'))
    assert.equal(rustScripts().STEP, stepId + fs.readFileSync(path.join(LUA, 'step-rust.lua'), 'utf8'))
  })

  describe('as Redis sees them', () => {
    let server, redis
    before(async () => {
      server = await startRedis()
      redis = server.client()
    })
    after(async () => {
      if (redis) redis.disconnect()
      if (server) await server.close()
    })

    it('the Rust step answers a remote call only while its input exists, and keeps the input when Redis refuses the push', async () => {
      const step = rustScripts().STEP
      let seq = 0
      // KEYS: working-on, processed, processed:<w>, step id key; ARGV: mode 3, reply list, reply, ttl, claim, run_at, worker, record, step id, input key, largest value returned.
      const answer = (reply) => redis.eval(step, 4, 'w:on', 'w:p', 'w:pm', 'w:step', '3', 'w:reply', reply, '30', '0', 'now', 'w', 'rec', `0123456789abcdef:${String(++seq).padStart(16, '0')}`, 'w:input', '0')
      await redis.set('w:input', 'bytes')
      await answer('first')
      assert.deepStrictEqual([await redis.lrange('w:reply', 0, -1), await redis.exists('w:input')], [['first'], 0], 'pushed, and the input deleted')
      await answer('second')
      assert.deepStrictEqual(await redis.lrange('w:reply', 0, -1), ['first'], 'no input (the caller gave up): no answer')
      // A push Redis refuses (here WRONGTYPE; in production maxmemory): the input stays, for the worker's error answer.
      await redis.del('w:reply')
      await redis.set('w:reply', 'not a list')
      await redis.set('w:input', 'bytes')
      await assert.rejects(answer('third'), /WRONGTYPE/)
      assert.equal(await redis.get('w:input'), 'bytes', 'the input survives a refused push')
      await redis.del('w:reply', 'w:input', 'w:step')
    })

    it('the Rust step returns a claimed job\'s input value with the claim only up to the size it is given', async () => {
      const step = rustScripts().STEP
      let seq = 0
      const entry = (key) => JSON.stringify({ class: 'digest', queue: 'x', args: [{ input: { key } }] })
      await redis.set('v:small', 'four')
      await redis.set('v:large', 'x'.repeat(17))
      await redis.set('v:empty', '')
      await redis.rpush('v:queue:x', entry('v:small'), entry('v:large'), entry('v:empty'), entry('v:absent'))
      // KEYS: working-on, processed, processed:<w>, step id key, the queue; ARGV: no ack, claim 1, the largest value 16, queue x.
      const claim = async () => {
        const reply = await redis.eval(step, 5, 'v:on', 'v:p', 'v:pm', 'v:step', 'v:queue:x', '0', '', '', '', '1', 'now', 'w', '', `0123456789abcdef:${String(++seq).padStart(16, '0')}`, '', '16', 'x')
        await redis.del('v:on')
        return [reply[2], reply[3], reply[6]]
      }
      assert.deepStrictEqual(await claim(), ['v:small', 4, 'four'], 'a value within the size comes with the claim')
      assert.deepStrictEqual(await claim(), ['v:large', 17, null], 'a larger one is left for a GET of its own')
      assert.deepStrictEqual(await claim(), ['v:empty', 0, null], 'an empty value: size 0, as an absent key, told apart by the GET')
      assert.deepStrictEqual(await claim(), ['v:absent', 0, null])
      await redis.del('v:small', 'v:large', 'v:empty', 'v:step')
    })

    it('Redis compiles every script each loop runs, composed as the loop composes it', async () => {
      const all = { ...Object.fromEntries(['STEP', 'RECOVER', 'RESUME'].map((n) => [`js ${n}`, scripts[n]])) }
      for (const [name, text] of Object.entries(rustScripts())) all[`rust ${name}`] = text
      assert.deepEqual(Object.keys(all).sort(), ['js RECOVER', 'js RESUME', 'js STEP', 'rust DELAY', 'rust FAIL', 'rust RESUME', 'rust STEP', 'rust UNTRACK'])
      for (const [name, text] of Object.entries(all)) {
        const sha = await redis.script('LOAD', text)
        assert.match(sha, /^[0-9a-f]{40}$/, name)
      }
    })
  })
})
