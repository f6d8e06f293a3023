'use strict'

// One task spec (crates/core/src/spec) for every path: the same bad options
// get the same code and message from resize(), JobQueue#add, a native job in
// the Rust loop and one in the JS loop (and from native() at definition
// time); and index.d.ts says what the spec accepts.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { resize, metadata, JobQueue, native } = require('..')
const binding = require('../lib/load').load()
const { startRedis, usePrivateRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')
const { fixture, sofMarker } = require('./helpers/fixtures')

const POSITIONS = 'centre, center, top, right top, right, right bottom, bottom, left bottom, left, left top, north, northeast, east, southeast, south, southwest, west, northwest'
const RESIZE_FIELDS = binding.specInfo().tasks.find((t) => t.task === 'resize').fields.join(', ')

/** [what, resize options, the one expected message] */
const BAD = [
  ['an unknown key near a name', { width: 10, widht: 10 }, `unknown option "widht" (did you mean "width"?): resize takes ${RESIZE_FIELDS}`],
  ['an unknown key near no name', { width: 10, tile: true }, `unknown option "tile": resize takes ${RESIZE_FIELDS}`],
  ['a position sharp does not name', { width: 10, position: 'upper left' }, `position must be one of ${POSITIONS}; got a string ("upper left")`],
  ['quality out of range', { width: 10, quality: 101 }, 'quality must be an integer from 1 to 100, got number 101'],
  ['a width of the wrong type', { width: '100' }, 'width must be an integer from 1 to 65535, got a string ("100")'],
  ['a flag of the wrong type', { width: 10, autoOrient: 1 }, 'autoOrient must be a boolean, got number 1']
]

/** The error of a promise that must reject. */
async function errorOf (promise) {
  try {
    await promise
  } catch (err) {
    return { code: err.code, message: err.message }
  }
  assert.fail('resolved')
}

describe('the same bad options fail alike on every path', () => {
  let server, redis, img, photo
  before(async () => {
    server = await startRedis()
    redis = server.client()
    img = fixture('320x240.jpg')
    photo = img.toString('base64')
  })
  after(async () => { await server.close() })

  it('resize(), JobQueue#add and native() at definition time', async () => {
    const q = new JobQueue()
    for (const [what, options, message] of BAD) {
      const expected = { code: 'ERR_INVALID_ARG', message }
      assert.deepEqual(await errorOf(resize(img, options)), expected, `resize(): ${what}`)
      assert.deepEqual(await errorOf(q.add('resize', img, options)), expected, `JobQueue#add: ${what}`)
      assert.throws(() => native('resize', options), (err) => {
        assert.deepEqual({ code: err.code, message: err.message }, expected, `native(): ${what}`)
        return true
      })
    }
    // A refused add never ran: nothing was added.
    assert.equal(q.stats().added, 0)
  })

  for (const loop of LOOPS) {
    it(`a native job in the ${loop.kind}`, async () => {
      const ns = `spec-${loop.rust ? 'rust' : 'js'}`
      const jobs = { thumb: native('resize', { format: 'png' }) }
      const entries = BAD.map(([, options], i) => ({ class: 'thumb', queue: 'q', args: [{ input: { base64: photo }, output: { key: `spec:out:${i}` }, ...options }, { tag: i }] }))
      const { outcomes } = await runEntries(server, redis, loop, { ns, jobs, entries })
      const failed = (await redis.lrange(`${ns}:failed`, 0, -1)).map((s) => JSON.parse(s))
      for (let i = 0; i < BAD.length; i++) {
        const [what, , message] = BAD[i]
        assert.deepEqual({ code: outcomes[i].code, message: outcomes[i].error }, { code: 'ERR_INVALID_ARG', message }, `${loop.kind}, failure event: ${what}`)
        const record = failed.find((f) => f.payload.args[1].tag === i)
        assert.deepEqual({ code: record.exception, message: record.error }, { code: 'ERR_INVALID_ARG', message }, `${loop.kind}, failed entry: ${what}`)
      }
      assert.equal(await redis.exists(...BAD.map((b, i) => `spec:out:${i}`)), 0, 'no output was written')
    })
  }
})

describe('a new option is one field in the spec: progressive', () => {
  const r = usePrivateRedis()

  for (const loop of LOOPS) {
    it(`reaches the JPEG encoder through a native job in the ${loop.kind}`, async () => {
      const ns = `progressive-${loop.rust ? 'rust' : 'js'}`
      const jobs = { thumb: native('resize', { width: 64, format: 'jpeg' }) }
      const photo = fixture('320x240.jpg').toString('base64')
      const entries = [true, false].map((progressive, i) => ({ class: 'thumb', queue: 'q', args: [{ input: { base64: photo }, output: { key: `out:${ns}:${i}` }, progressive }, { tag: i }] }))
      const { outcomes } = await runEntries(r.server, r.redis, loop, { ns, jobs, entries })
      assert.ok(outcomes.every((o) => o.ok), JSON.stringify(outcomes))
      const [progressive, baseline] = [await r.redis.getBuffer(`out:${ns}:0`), await r.redis.getBuffer(`out:${ns}:1`)]
      assert.deepEqual([sofMarker(progressive), sofMarker(baseline)], [0xc2, 0xc0])
      const m = await metadata(progressive)
      assert.deepEqual([m.format, m.width, m.height], ['jpeg', 64, 48])
    })
  }
})

describe('index.d.ts says what the spec accepts', () => {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const info = binding.specInfo()
  // Options only JS reads (lib/args.js JS_ONLY): typed, but not the spec's.
  const JS_ONLY = ['signal']

  /** The property names of `export interface <name> { ... }`. */
  function interfaceFields (name) {
    const m = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(dts)
    assert.ok(m, `index.d.ts has interface ${name}`)
    return [...m[1].matchAll(/^ {2}(\w+)\??:/gm)].map((f) => f[1]).filter((f) => !JS_ONLY.includes(f))
  }

  /** The string literals of `export type <name> = 'a' | 'b' ...`. */
  function union (name) {
    const m = new RegExp(`export type ${name} =([^\\n]*(?:\\n {2}\\|[^\\n]*)*)`).exec(dts)
    assert.ok(m, `index.d.ts has type ${name}`)
    return [...m[1].matchAll(/'([^']*)'/g)].map((v) => v[1])
  }

  it('names every option of every task, and no other', () => {
    const fields = (task) => info.tasks.find((t) => t.task === task).fields
    for (const [task, iface] of [['resize', 'ResizeOptions'], ['metadata', 'MetadataOptions'], ['hash', 'HashOptions']]) {
      assert.deepEqual(interfaceFields(iface).sort(), [...fields(task)].sort(), `${iface} vs the ${task} spec`)
    }
  })

  it('lists exactly the accepted values of each choice', () => {
    const values = (name) => info.choices.find((c) => c.name === name).values
    for (const [choice, type] of [['fit', 'Fit'], ['kernel', 'Kernel'], ['position', 'Position'], ['format', 'OutputFormat'], ['chromaSubsampling', 'ChromaSubsampling'], ['blend', 'Blend'], ['algorithm', 'HashAlgorithm']]) {
      assert.deepEqual(union(type), values(choice), `type ${type} vs the spec's ${choice}`)
    }
  })
})
