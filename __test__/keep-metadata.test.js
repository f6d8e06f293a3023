'use strict'

// keepExif, keepIccProfile and keepMetadata (sharp's names): the input's EXIF
// and ICC profile written into JPEG, PNG and WebP output where sharp (and
// every viewer) reads them, the orientation reset once the pixels are upright,
// a kept profile leaving the pixels in it; through a call, JobQueue and a
// native job in both loops.

const { test, describe, it } = require('node:test')
const assert = require('node:assert/strict')
const sharp = require('sharp')
const { resize, metadata, JobQueue, native } = require('..')
const { fixture } = require('./helpers/fixtures')
const { psnr } = require('../benchmark/lib/lanczos')
const { usePrivateRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')

const rotated = fixture('Landscape_6.jpg') // 450x600 stored, EXIF orientation 6, an ICC profile

/** The bytes of a TIFF EXIF block, without a JPEG's `Exif\0\0` prefix. */
const tiff = (exif) => exif.subarray(0, 6).equals(Buffer.from('Exif\0\0')) ? exif.subarray(6) : exif

/** Decoded RGB; `stored`: as stored, not converted through an embedded profile. */
async function rgb (bytes, stored = false) {
  const { data, info } = await sharp(bytes, { ignoreIcc: stored }).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height }
}

test('keepExif: the input\'s EXIF in every format, Orientation 1 once upright', async () => {
  const input = await sharp(rotated).metadata()
  for (const format of ['jpeg', 'png', 'webp']) {
    const out = await resize(rotated, { width: 150, format, keepExif: true })
    const m = await sharp(out).metadata()
    assert.deepEqual([m.format, m.width, m.height], [format, 150, 113], format)
    assert.equal(m.orientation, 1, `${format}: sharp reads Orientation 1`)
    assert.ok(m.exif, `${format}: EXIF present`)
    const ours = tiff(m.exif)
    const theirs = tiff(input.exif)
    assert.equal(ours.length, theirs.length, format)
    const changed = [...ours].filter((b, i) => b !== theirs[i]).length
    assert.equal(changed, 1, `${format}: only the Orientation value differs (6 → 1)`)
    assert.equal(m.icc, undefined, `${format}: no profile without keepIccProfile`)
    assert.equal((await metadata(out)).orientation, 1)
  }
  // Without auto-orientation the pixels stay as stored, and so does the tag.
  const stored = await sharp(await resize(rotated, { width: 150, autoOrient: false, keepExif: true, format: 'jpeg' })).metadata()
  assert.deepEqual([stored.width, stored.height, stored.orientation], [150, 200, 6])
  // And without keepExif, no EXIF at all (sharp's default).
  assert.equal((await sharp(await resize(rotated, { width: 150 })).metadata()).exif, undefined)
})

test('keepIccProfile: the profile embedded and the pixels left in it, as sharp keeps them', async () => {
  // A photo in Display P3 with its profile, as phones write them (made by sharp here).
  const p3 = await sharp(fixture('Landscape_1.jpg')).withIccProfile('p3').jpeg({ quality: 95 }).toBuffer()
  const input = await sharp(p3).metadata()
  assert.ok(input.icc && input.icc.length > 0, 'the input carries its profile')
  for (const format of ['jpeg', 'png', 'webp']) {
    const out = await resize(p3, { width: 300, format, quality: 95, keepIccProfile: true })
    const m = await sharp(out).metadata()
    assert.ok(m.icc && m.icc.equals(input.icc), `${format}: the input's ${input.icc.length}-byte profile`)
    assert.equal(m.exif, undefined, `${format}: no EXIF without keepExif`)
    assert.ok((await metadata(out)).hasProfile)
  }
  // Pixels: left as stored, exactly what the same JPEG gives with its
  // profile cut out (so nothing converted them), and near sharp's keepIccProfile().
  const kept = await rgb(await resize(p3, { width: 300, format: 'png', keepIccProfile: true }), true)
  const unprofiled = await rgb(await resize(withoutIcc(p3), { width: 300, format: 'png' }), true)
  assert.ok(kept.data.equals(unprofiled.data), 'the pixels are the stored ones')
  const sharpKept = await rgb(await sharp(p3).resize({ width: 300 }).keepIccProfile().png().toBuffer(), true)
  const db = psnr(sharpKept.data, kept.data)
  assert.ok(db >= 30, `PSNR ${db.toFixed(1)} dB against sharp's keepIccProfile(), want at least 30`)
})

/** A JPEG with its APP2 ICC_PROFILE segments removed. */
function withoutIcc (jpeg) {
  const parts = [jpeg.subarray(0, 2)]
  let at = 2
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff && jpeg[at + 1] !== 0xda) {
    const end = at + 2 + jpeg.readUInt16BE(at + 2)
    const icc = jpeg[at + 1] === 0xe2 && jpeg.subarray(at + 4, at + 16).toString('latin1') === 'ICC_PROFILE\0'
    if (!icc) parts.push(jpeg.subarray(at, end))
    at = end
  }
  parts.push(jpeg.subarray(at))
  const out = Buffer.concat(parts)
  assert.ok(out.length < jpeg.length, 'a profile was cut out')
  return out
}

test('keepMetadata is both; JobQueue gives the same bytes', async () => {
  const input = await sharp(rotated).metadata()
  const opts = { width: 120, format: 'webp', keepMetadata: true }
  const q = new JobQueue({ concurrency: 1 })
  try {
    const [a, b] = await Promise.all([resize(rotated, opts), q.add('resize', rotated, opts)])
    assert.ok(a.equals(b))
    const m = await sharp(a).metadata()
    assert.ok(m.icc.equals(input.icc))
    assert.equal(tiff(m.exif).length, tiff(input.exif).length)
    assert.equal(m.orientation, 1)
  } finally {
    await q.close()
  }
  await assert.rejects(resize(rotated, { keepExif: 'yes' }), (e) => e.code === 'ERR_INVALID_ARG' && /^keepExif must be a boolean/.test(e.message))
  await assert.rejects(resize(rotated, { keepExif: true, format: 'avif' }), (e) => e.code === 'ERR_INVALID_ARG' && /not supported for AVIF output/.test(e.message))
  await assert.rejects(resize(rotated, { keepExf: true }), (e) => e.code === 'ERR_INVALID_ARG' && /did you mean "keepExif"/.test(e.message))
})

describe('native jobs', () => {
  const r = usePrivateRedis()
  for (const loop of LOOPS) {
    it(`${loop.kind}: keepMetadata gives resize()'s bytes`, async () => {
      const ns = `keep${loop.rust ? 'r' : 'j'}`
      const expected = await resize(rotated, { width: 100, format: 'png', keepMetadata: true })
      const { outcomes } = await runEntries(r.server, r.redis, loop, {
        ns,
        jobs: { keep: native('resize', { width: 100, format: 'png' }) },
        entries: [{ class: 'keep', queue: 'q', args: [{ input: { base64: rotated.toString('base64') }, output: { key: `out:${ns}` }, keepMetadata: true }, { tag: 1 }] }]
      })
      assert.equal(outcomes[0].ok, true, JSON.stringify(outcomes[0]))
      assert.ok((await r.redis.getBuffer(`out:${ns}`)).equals(expected))
    })
  }
})
