'use strict'

// resize's resolveWithObject (sharp's name): `{ data, info }` where info
// describes the output (format, width, height, channels, size), checked
// against sharp's reading of the bytes; the default stays a bare Buffer; the
// same on JobQueue; a native job with it gets the info beside `size`.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const sharp = require('sharp')
const { resize, metadata, JobQueue, native } = require('..')
const { fixture } = require('./helpers/fixtures')
const { usePrivateRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')

/** [input fixture, options, expected info (size is checked against data)] */
const CASES = [
  ['320x240.jpg', { width: 100 }, { format: 'jpeg', width: 100, height: 75, channels: 3 }],
  ['Landscape_6.jpg', { width: 60 }, { format: 'jpeg', width: 60, height: 45, channels: 3 }],
  ['blackbug.png', { width: 64, format: 'webp' }, { format: 'webp', width: 64, height: 48, channels: 4 }],
  ['4.webp', { width: 50, height: 50, fit: 'contain', background: 'transparent', format: 'png' }, { format: 'png', width: 50, height: 50, channels: 4 }],
  ['Crash_test.gif', { height: 40 }, { format: 'png', width: 60, height: 40 }]
]

describe('resolveWithObject', () => {
  it('resolves to { data, info } describing the output, as sharp reads it', async () => {
    for (const [name, options, expected] of CASES) {
      const input = fixture(name)
      const r = await resize(input, { ...options, resolveWithObject: true })
      assert.deepEqual(Object.keys(r), ['data', 'info'], name)
      assert.ok(Buffer.isBuffer(r.data), name)
      assert.deepEqual(Object.keys(r.info).sort(), ['channels', 'format', 'height', 'size', 'width'], name)
      for (const [k, v] of Object.entries(expected)) assert.equal(r.info[k], v, `${name} ${k}`)
      assert.equal(r.info.size, r.data.length, `${name} size`)
      const theirs = await sharp(r.data).metadata()
      assert.deepEqual([theirs.format, theirs.width, theirs.height], [r.info.format, r.info.width, r.info.height], name)
      // The same bytes as without the option.
      assert.ok(r.data.equals(await resize(input, options)), `${name}: same output`)
    }
  })

  it('channels match sharp\'s info for the same output', async () => {
    const input = fixture('blackbug.png')
    const ours = await resize(input, { width: 64, format: 'png', resolveWithObject: true })
    const { info } = await sharp(input).resize(64).png().toBuffer({ resolveWithObject: true })
    assert.deepEqual([ours.info.format, ours.info.width, ours.info.height, ours.info.channels], [info.format, info.width, info.height, info.channels])
  })

  it('false, null or absent: a bare Buffer', async () => {
    const input = fixture('320x240.jpg')
    for (const resolveWithObject of [false, null, undefined]) {
      assert.ok(Buffer.isBuffer(await resize(input, { width: 32, resolveWithObject })), String(resolveWithObject))
    }
    await assert.rejects(resize(input, { width: 32, resolveWithObject: 1 }), { code: 'ERR_INVALID_ARG', message: 'resolveWithObject must be a boolean, got number 1' })
  })

  it('JobQueue#add(\'resize\') takes it too', async () => {
    const q = new JobQueue()
    const r = await q.add('resize', fixture('320x240.jpg'), { width: 80, resolveWithObject: true })
    assert.deepEqual(r.info, { format: 'jpeg', width: 80, height: 60, channels: 3, size: r.data.length })
    assert.ok(Buffer.isBuffer(await q.add('resize', fixture('320x240.jpg'), { width: 80 })))
    await q.close()
  })
})

describe('a native resize job with resolveWithObject', () => {
  const r = usePrivateRedis()

  for (const loop of LOOPS) {
    it(`reports the output's info beside size in the ${loop.kind}`, async () => {
      const ns = `info-${loop.rust ? 'rust' : 'js'}`
      const photo = fixture('320x240.jpg').toString('base64')
      const entries = [true, false].map((resolveWithObject, i) => ({ class: 'thumb', queue: 'q', args: [{ input: { base64: photo }, output: { key: `out:${ns}:${i}` }, resolveWithObject }, { tag: i }] }))
      const { outcomes } = await runEntries(r.server, r.redis, loop, { ns, jobs: { thumb: native('resize', { width: 64, format: 'png' }) }, entries })
      assert.ok(outcomes.every((o) => o.ok), JSON.stringify(outcomes))
      const stored = await r.redis.getBuffer(`out:${ns}:0`)
      assert.deepEqual(outcomes[0].result, { size: stored.length, format: 'png', width: 64, height: 48, channels: 3, key: `out:${ns}:0` })
      assert.deepEqual(outcomes[1].result, { size: (await r.redis.getBuffer(`out:${ns}:1`)).length, key: `out:${ns}:1` })
      const m = await metadata(stored)
      assert.deepEqual([m.width, m.height], [64, 48])
    })
  }
})
