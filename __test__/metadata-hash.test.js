'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { metadata, hash } = require('..')
const { fixture } = require('./helpers/fixtures')

test('metadata reads every format from its header', async () => {
  const cases = [
    ['2569067123_aca715a2ee_o.jpg', { format: 'jpeg', width: 2725, height: 2225, channels: 3, hasAlpha: false, orientation: 1 }],
    ['Landscape_6.jpg', { format: 'jpeg', width: 450, height: 600, channels: 3, hasAlpha: false, orientation: 6 }],
    ['blackbug.png', { format: 'png', width: 2048, height: 1536, channels: 4, hasAlpha: true, orientation: 1 }],
    ['grey-8bit-alpha.png', { format: 'png', width: 400, height: 300, channels: 2, hasAlpha: true, orientation: 1 }],
    ['4.webp', { format: 'webp', width: 1024, height: 772, channels: 3, hasAlpha: false, orientation: 1 }],
    ['Crash_test.gif', { format: 'gif', width: 800, height: 533 }]
  ]
  for (const [name, expected] of cases) {
    const input = fixture(name)
    const m = await metadata(input)
    assert.equal(m.size, input.length, name)
    for (const [k, v] of Object.entries(expected)) assert.equal(m[k], v, `${name} ${k}`)
  }
})

test('metadata does not need the whole file: headers of huge images are read', async () => {
  // giant-image.jpg is 20000x14000: over the default pixel limit for resize, fine for metadata.
  const m = await metadata(fixture('giant-image.jpg'))
  assert.deepEqual([m.width, m.height, m.channels], [20000, 14000, 1])
  const first = fixture('2569067123_aca715a2ee_o.jpg').subarray(0, 2048)
  const partial = await metadata(first)
  assert.deepEqual([partial.width, partial.height], [2725, 2225])
})

test('hash matches node:crypto for sha256, sha512 and md5', async () => {
  const inputs = [Buffer.alloc(0), Buffer.from('abc'), crypto.randomBytes(5 * 1024 * 1024 + 3)]
  for (const input of inputs) {
    assert.equal(await hash(input), crypto.createHash('sha256').update(input).digest('hex'))
    for (const alg of ['sha256', 'sha512', 'md5']) {
      assert.equal(await hash(input, alg), crypto.createHash(alg).update(input).digest('hex'), alg)
    }
  }
})

test('blake3 gives the reference digests', async () => {
  assert.equal(await hash(Buffer.alloc(0), 'blake3'), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262')
  assert.equal(await hash(Buffer.from('abc'), 'blake3'), '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85')
  const big = crypto.randomBytes(3 * 1024 * 1024)
  assert.equal((await hash(big, 'blake3')).length, 64)
})

test('hash accepts { algorithm } and typed arrays', async () => {
  const bytes = new Uint8Array([1, 2, 3])
  assert.equal(await hash(bytes, { algorithm: 'md5' }), crypto.createHash('md5').update(bytes).digest('hex'))
  assert.equal(await hash(new Uint16Array([1, 2])), crypto.createHash('sha256').update(Buffer.from(new Uint16Array([1, 2]).buffer)).digest('hex'))
})
