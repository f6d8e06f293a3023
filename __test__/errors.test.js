'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { resize, metadata, hash, configure } = require('..')
const { fixture } = require('./helpers/fixtures')

const small = fixture('320x240.jpg')

async function rejectsWith (promise, code, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, 'an Error')
    assert.equal(err.code, code, `code of: ${err.message}`)
    if (pattern) assert.match(err.message, pattern)
    return true
  })
}

test('bad fixtures reject with the right code', async () => {
  await rejectsWith(resize(fixture('corrupt-header.jpg'), { width: 100 }), 'ERR_CORRUPT_INPUT', /JPEG/)
  await rejectsWith(resize(fixture('truncated.jpg'), { width: 100 }), 'ERR_CORRUPT_INPUT', /truncated|Premature/)
  await rejectsWith(resize(fixture('truncated.png'), { width: 100 }), 'ERR_CORRUPT_INPUT', /png/i)
  await rejectsWith(resize(fixture('giant-image.jpg'), { width: 100 }), 'ERR_LIMIT_EXCEEDED', /20000x14000/)
  await rejectsWith(resize(fixture('65536-uint32-limit.png'), { width: 100 }), 'ERR_LIMIT_EXCEEDED', /65536x65536/)
  await rejectsWith(metadata(fixture('corrupt-header.jpg')), 'ERR_CORRUPT_INPUT')
})

test('limitInputPixels: a lower limit rejects, false disables', async () => {
  await rejectsWith(resize(small, { width: 10, limitInputPixels: 1000 }), 'ERR_LIMIT_EXCEEDED', /limitInputPixels/)
  const out = await resize(small, { width: 10, limitInputPixels: false })
  assert.equal((await metadata(out)).width, 10)
})

test('empty, random and non-image bytes', async () => {
  await rejectsWith(resize(Buffer.alloc(0), { width: 10 }), 'ERR_INVALID_ARG', /empty/)
  await rejectsWith(metadata(Buffer.alloc(0)), 'ERR_INVALID_ARG', /empty/)
  await rejectsWith(resize(require('node:crypto').randomBytes(4096), { width: 10 }), 'ERR_UNSUPPORTED_FORMAT')
  await rejectsWith(resize(Buffer.from('GIF89a'), { width: 10 }), 'ERR_CORRUPT_INPUT')
  await rejectsWith(resize(Buffer.from([0xff, 0xd8, 0xff]), { width: 10 }), 'ERR_CORRUPT_INPUT')
})

test('wrong argument types reject with ERR_INVALID_ARG', async () => {
  for (const bad of [undefined, null, 'a string', 42, {}, [1, 2, 3]]) {
    await rejectsWith(resize(bad, { width: 10 }), 'ERR_INVALID_ARG', /input must be/)
    await rejectsWith(metadata(bad), 'ERR_INVALID_ARG')
    await rejectsWith(hash(bad), 'ERR_INVALID_ARG')
  }
  await rejectsWith(resize(small, 'wide'), 'ERR_INVALID_ARG', /options/)
})

test('out-of-range and unknown options reject with ERR_INVALID_ARG', async () => {
  const cases = [
    [{ width: 0 }, /width/], [{ width: -5 }, /width/], [{ width: NaN }, /width/], [{ width: 65536 }, /width/],
    [{ width: 10.5 }, /width/], [{ height: '100' }, /height/], [{ fit: 'stretch' }, /fit/], [{ format: 'tiff' }, /format/],
    [{ kernel: 'lanczos2' }, /kernel/], [{ quality: 0 }, /quality/], [{ quality: 101 }, /quality/],
    [{ position: 'entropy' }, /position/], [{ background: 'nope' }, /background/], [{ withoutEnlargement: 'yes' }, /withoutEnlargement/],
    [{ autoOrient: 1 }, /autoOrient/], [{ limitInputPixels: -1 }, /limitInputPixels/], [{ signal: {} }, /signal/]
  ]
  for (const [options, pattern] of cases) {
    await rejectsWith(resize(small, options), 'ERR_INVALID_ARG', pattern)
  }
  await rejectsWith(hash(Buffer.from('x'), 'crc32'), 'ERR_INVALID_ARG', /algorithm/)
  assert.throws(() => configure({ threads: 0 }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => configure({ nice: 40 }), { code: 'ERR_INVALID_ARG' })
})

test('after every bad input the process still works', async () => {
  const m = await metadata(await resize(small, { width: 32 }))
  assert.deepEqual([m.width, m.height], [32, 24])
})
