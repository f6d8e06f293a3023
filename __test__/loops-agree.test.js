'use strict'

// The JS loop and the Rust loop give a native job the same answer: each case
// runs through both, and the outcomes (result, or code and message) must be
// identical. Both loops parse and check jobs with the same Rust code
// (crates/resque/src/job.rs); these are the cases that once differed.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { native, metadata, resize } = require('..')
const { startRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')
const { fixture } = require('./helpers/fixtures')

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')
const ABC = Buffer.from('abc').toString('base64')

let server
let redis
let photo

const jobs = {
  digest: native('hash', 'sha256'),
  thumb: native('resize', { width: 8, format: 'png' })
}

const nested = (n) => JSON.parse('['.repeat(n) + '1' + ']'.repeat(n))

/** [what, class, queue entry args[0], expected outcome (checked on each loop), args[1] extra] */
const CASES = () => [
  ['args nested 200 levels deep', 'digest', { input: { base64: ABC } }, { ok: true, result: sha256('abc') }, { note: nested(200) }],
  ['args nested 990 levels deep', 'digest', { input: { base64: ABC } }, { ok: true, result: sha256('abc') }, { note: nested(990) }],
  ['null options keep the defaults', 'thumb', { input: { base64: photo }, output: { key: 'agree:null' }, width: null, fit: null, quality: null, format: null, kernel: null }, { ok: true }],
  ['ttl: null is no expiry', 'digest', { input: { base64: ABC }, output: { key: 'agree:ttl', ttl: null } }, { ok: true }],
  // A whole number past 2^64 saturates (no practical limit), as resize() takes it.
  ['limitInputPixels: 1e308', 'thumb', { input: { base64: photo }, output: { key: 'agree:big' }, limitInputPixels: 1e308 }, { ok: true }],
  ['limitInputPixels: -1', 'thumb', { input: { base64: photo }, output: { key: 'agree:neg' }, limitInputPixels: -1 }, { code: 'ERR_INVALID_ARG' }],
  ['input: null', 'digest', { input: null }, { code: 'ERR_INVALID_ARG' }],
  ['output: null on a resize', 'thumb', { input: { base64: photo }, output: null }, { code: 'ERR_INVALID_ARG' }],
  ['ttl: 0', 'digest', { input: { base64: ABC }, output: { key: 'agree:ttl0', ttl: 0 } }, { code: 'ERR_INVALID_ARG' }],
  ['ttl: 1.5', 'digest', { input: { base64: ABC }, output: { key: 'agree:ttl1', ttl: 1.5 } }, { code: 'ERR_INVALID_ARG' }],
  ['width given by the job', 'thumb', { input: { base64: photo }, output: { key: 'agree:w' }, width: 4 }, { ok: true }],
  ['a hash with a key output', 'digest', { input: { base64: ABC }, output: { key: 'agree:md5' }, algorithm: 'md5' }, { ok: true }]
]

before(async () => {
  server = await startRedis()
  redis = server.client()
  photo = fixture('320x240.jpg').toString('base64')
})

after(async () => {
  await server.close()
})

describe('both loops give the same answers', () => {
  it('for nesting, null options, null ttl, out-of-range limits', async () => {
    const cases = CASES()
    const entries = cases.map(([, cls, args, , extra], i) => ({ class: cls, queue: 'q', args: [args, { ...extra, tag: i }] }))
    const byLoop = {}
    for (const loop of LOOPS) {
      const ns = `agree-${loop.rust ? 'rust' : 'js'}`
      const { outcomes } = await runEntries(server, redis, loop, { ns, jobs, entries, ms: 60000 })
      byLoop[loop.kind] = outcomes
      for (let i = 0; i < cases.length; i++) {
        const [what, , , expected] = cases[i]
        const got = outcomes[i]
        if (expected.ok) assert.ok(got.ok, `${loop.kind}, ${what}: ${got.error}`)
        else assert.equal(got.code, expected.code, `${loop.kind}, ${what}: ${got.error}`)
        if (expected.result !== undefined) assert.equal(got.result, expected.result, `${loop.kind}, ${what}`)
      }
      // The null options kept the defaults: 8 wide, PNG.
      const m = await metadata(await redis.getBuffer('agree:null'))
      assert.deepEqual([m.format, m.width], ['png', 8])
      assert.equal(await redis.ttl('agree:ttl'), -1)
      // The call path takes the same out-of-range limit the same way.
      assert.equal((await metadata(await resize(Buffer.from(photo, 'base64'), { width: 8, limitInputPixels: 1e308 }))).width, 8)
      await redis.del('agree:null', 'agree:ttl', 'agree:w', 'agree:md5')
    }
    const [js, rust] = LOOPS.map((l) => byLoop[l.kind])
    for (let i = 0; i < cases.length; i++) {
      assert.deepEqual(js[i], rust[i], `${cases[i][0]}: the loops differ`)
    }
  })
})
