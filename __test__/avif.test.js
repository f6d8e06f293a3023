'use strict'

// AVIF (issue #16). Output: decoded back by sharp (libheif, an independent
// decoder) and compared with the same resize as lossless PNG, pixel by pixel
// (PSNR); the container's own fields (av1C's chroma subsampling, the alpha
// auxiliary image) read from the bytes. Input: metadata() from the header,
// pixels (libaom) compared with sharp's decode of the same file (8, 10 and
// 12 bits, 4:4:4, 4:2:0, alpha, identity matrix). Every path: resize(),
// JobQueue, a native job in each worker loop.

const { describe, it, before } = require('node:test')
const assert = require('node:assert/strict')
const sharp = require('sharp')
const { resize, metadata, JobQueue, native } = require('..')
const { fixture, raw } = require('./helpers/fixtures')
const { usePrivateRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')

const photo = fixture('320x240.jpg')
const translucent = fixture('blackbug.png') // RGBA

function psnr (a, b) {
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels], 'same size to compare')
  let sse = 0
  for (let i = 0; i < a.data.length; i++) sse += (a.data[i] - b.data[i]) ** 2
  return sse === 0 ? Infinity : 10 * Math.log10((255 * 255 * a.data.length) / sse)
}

/** The boxes of an ISOBMFF byte range: [{ type, body }]. */
function boxes (buf) {
  const out = []
  for (let i = 0; i + 8 <= buf.length;) {
    const size = buf.readUInt32BE(i)
    out.push({ type: buf.toString('latin1', i + 4, i + 8), body: buf.subarray(i + 8, i + size) })
    if (size < 8) break
    i += size
  }
  return out
}
const find = (list, type) => list.find((b) => b.type === type)

/** The properties in meta/iprp/ipco. */
function properties (avif) {
  const meta = find(boxes(avif), 'meta').body.subarray(4)
  return boxes(find(boxes(find(boxes(meta), 'iprp').body), 'ipco').body)
}

/** av1C's chroma_subsampling_x/y as '4:2:0' or '4:4:4'. */
function av1cSampling (avif) {
  const b = find(properties(avif), 'av1C').body[2]
  return (b & 0x0c) === 0x0c ? '4:2:0' : (b & 0x0c) === 0 ? '4:4:4' : 'other'
}

const isAvif = (b) => b.toString('latin1', 4, 8) === 'ftyp' && b.toString('latin1', 8, 12) === 'avif'

describe('AVIF output', () => {
  it("is an AVIF of the resized picture: sharp decodes it to the same pixels as rusque's PNG, within lossy error", async () => {
    const avif = await resize(photo, { width: 160, format: 'avif' })
    assert.ok(isAvif(avif))
    const m = await sharp(avif).metadata()
    assert.deepEqual([m.format, m.width, m.height, m.hasAlpha], ['heif', 160, 120, false])
    const reference = await raw(await resize(photo, { width: 160, format: 'png' }))
    const p = psnr(await raw(avif), reference)
    assert.ok(p > 32 && p < 60, `PSNR ${p.toFixed(2)} dB at the default quality 50`)
    assert.equal(av1cSampling(avif), '4:4:4', "sharp's AVIF default: full-resolution colour")
  })

  it('quality trades bytes for fidelity; the default is 50', async () => {
    const reference = await raw(await resize(photo, { width: 160, format: 'png' }))
    const low = await resize(photo, { width: 160, format: 'avif', quality: 20 })
    const high = await resize(photo, { width: 160, format: 'avif', quality: 90 })
    assert.ok((await resize(photo, { width: 160, format: 'avif', quality: 50 })).equals(await resize(photo, { width: 160, format: 'avif' })))
    assert.ok(low.length < high.length, `${low.length} < ${high.length}`)
    const [pl, ph] = [psnr(await raw(low), reference), psnr(await raw(high), reference)]
    assert.ok(pl + 5 < ph, `quality 20: ${pl.toFixed(2)} dB, 90: ${ph.toFixed(2)} dB`)
  })

  it("chromaSubsampling: '4:2:0' halves the colour planes (av1C says so) and keeps the picture, odd sides included", async () => {
    const colour = fixture('Landscape_1.jpg')
    const opts = { width: 161, height: 121, fit: 'fill', format: 'avif', quality: 80 }
    const s420 = await resize(colour, { ...opts, chromaSubsampling: '4:2:0' })
    const s444 = await resize(colour, { ...opts, chromaSubsampling: '4:4:4' })
    assert.equal(av1cSampling(s420), '4:2:0')
    assert.equal(av1cSampling(s444), '4:4:4')
    assert.ok(s420.length < s444.length, `${s420.length} < ${s444.length}`)
    const reference = await raw(await resize(colour, { ...opts, format: 'png' }))
    const [p420, p444] = [psnr(await raw(s420), reference), psnr(await raw(s444), reference)]
    assert.ok(p420 > 30 && p444 > p420, `4:2:0 ${p420.toFixed(2)} dB, 4:4:4 ${p444.toFixed(2)} dB`)
  })

  it('lossless: full-resolution RGB at the finest quantiser rav1e has (near, not bit-exact)', async () => {
    const reference = await raw(await resize(photo, { width: 96, format: 'png' }))
    const l = await resize(photo, { width: 96, format: 'avif', lossless: true })
    const q100 = await resize(photo, { width: 96, format: 'avif', quality: 100 })
    const p = psnr(await raw(l), reference)
    assert.ok(p > 45, `lossless: PSNR ${p.toFixed(2)} dB`)
    assert.ok(p > psnr(await raw(q100), reference), 'closer than quality 100 in YCbCr')
    assert.equal(av1cSampling(l), '4:4:4', 'never subsampled')
    assert.equal(av1cSampling(await resize(photo, { width: 96, format: 'avif', lossless: true, chromaSubsampling: '4:2:0' })), '4:4:4')
  })

  it('alpha is kept as an auxiliary image', async () => {
    const avif = await resize(translucent, { width: 64, format: 'avif', quality: 90 })
    const m = await sharp(avif).metadata()
    assert.deepEqual([m.width, m.hasAlpha, m.channels], [64, true, 4])
    assert.ok(properties(avif).some((p) => p.type === 'auxC' && p.body.toString('latin1').includes('auxiliary:alpha')))
    const ours = await raw(avif, 4)
    const reference = await raw(await resize(translucent, { width: 64, format: 'png' }), 4)
    const alpha = (img) => ({ ...img, channels: 1, data: Buffer.from(img.data.filter((_, i) => i % 4 === 3)) })
    const p = psnr(alpha(ours), alpha(reference))
    assert.ok(p > 35, `alpha PSNR ${p.toFixed(2)} dB`)
    // An opaque RGBA input writes no alpha plane.
    const opaque = await sharp(photo).ensureAlpha().png().toBuffer()
    assert.equal((await sharp(await resize(opaque, { width: 32, format: 'avif' })).metadata()).hasAlpha, false)
  })

  it('effort 0-9 changes the encoding, not the picture', async () => {
    const reference = await raw(await resize(photo, { width: 96, format: 'png' }))
    const e0 = await resize(photo, { width: 96, format: 'avif', effort: 0 })
    const e9 = await resize(photo, { width: 96, format: 'avif', effort: 9 })
    assert.ok(!e0.equals(e9))
    for (const [name, b] of [['effort 0', e0], ['effort 9', e9]]) {
      const p = psnr(await raw(b), reference)
      assert.ok(p > 30, `${name}: PSNR ${p.toFixed(2)} dB`)
    }
    assert.ok((await resize(photo, { width: 96, format: 'avif', effort: 4 })).equals(await resize(photo, { width: 96, format: 'avif' })), 'default effort 4')
  })

  it('effort past 6 is refused for WebP before decoding, and past 9 for every format', async () => {
    await assert.rejects(resize(photo, { format: 'webp', effort: 7 }), {
      code: 'ERR_INVALID_ARG',
      message: 'effort must be an integer from 0 to 6 for WebP output (0 to 9 is AVIF\'s range), got 7'
    })
    for (const format of ['avif', 'jpeg']) {
      await assert.rejects(resize(photo, { format, effort: 10 }), { code: 'ERR_INVALID_ARG', message: 'effort must be an integer from 0 to 9, got number 10' })
    }
    assert.ok(isAvif(await resize(photo, { width: 8, format: 'AVIF', effort: 9 })), 'any case, like the other formats')
  })

  it('tiny and odd sizes encode', async () => {
    for (const [w, h] of [[1, 1], [3, 1], [1, 5], [17, 9]]) {
      const avif = await resize(photo, { width: w, height: h, fit: 'fill', format: 'avif', chromaSubsampling: '4:2:0' })
      const m = await sharp(avif).metadata()
      assert.deepEqual([m.width, m.height], [w, h])
    }
  })

  it('resolveWithObject reports the AVIF, and the JobQueue path writes the same bytes', async () => {
    const { data, info } = await resize(photo, { width: 80, format: 'avif', resolveWithObject: true })
    assert.deepEqual(info, { format: 'avif', width: 80, height: 60, channels: 3, size: data.length })
    const q = new JobQueue({ concurrency: 1 })
    try {
      assert.ok((await q.add('resize', photo, { width: 80, format: 'avif' })).equals(data))
    } finally {
      await q.close()
    }
  })
})

describe('AVIF input', () => {
  let opaque, alpha
  before(async () => {
    opaque = await sharp(photo).resize(200).avif().toBuffer()
    alpha = await sharp(translucent).avif().toBuffer()
  })

  it('metadata() reads format, size and alpha from the header', async () => {
    const m = await metadata(opaque)
    assert.deepEqual([m.format, m.width, m.height, m.channels, m.hasAlpha], ['avif', 200, 150, 3, false])
    const s = await sharp(translucent).metadata()
    const a = await metadata(alpha)
    assert.deepEqual([a.format, a.width, a.height, a.channels, a.hasAlpha], ['avif', s.width, s.height, 4, true])
    const ours = await metadata(await resize(translucent, { width: 40, format: 'avif' }))
    assert.deepEqual([ours.format, ours.width, ours.hasAlpha], ['avif', 40, true])
  })

  it('decodes to the pixels sharp decodes: 8, 10 and 12 bits, 4:2:0, identity matrix, alpha', async () => {
    const landscape = fixture('Landscape_1.jpg')
    const cases = [
      ['sharp 4:4:4', opaque, 3, 60],
      ['sharp 4:2:0', await sharp(landscape).resize(161).avif({ chromaSubsampling: '4:2:0' }).toBuffer(), 3, 60],
      ['sharp 10-bit', await sharp(photo).resize(120).avif({ bitdepth: 10 }).toBuffer(), 3, 50],
      ['sharp 12-bit 4:2:0', await sharp(landscape).resize(99).avif({ bitdepth: 12, chromaSubsampling: '4:2:0' }).toBuffer(), 3, 50],
      ['rusque 4:2:0', await resize(landscape, { width: 99, format: 'avif', chromaSubsampling: '4:2:0' }), 3, 60],
      ['rusque identity matrix', await resize(photo, { width: 50, format: 'avif', lossless: true }), 3, 60],
      ['sharp alpha', alpha, 4, 60],
      ['rusque alpha', await resize(translucent, { width: 64, format: 'avif' }), 4, 60]
    ]
    for (const [name, avif, channels, floor] of cases) {
      const png = await resize(avif, { format: 'png' })
      const [ours, theirs] = [await raw(png, channels), await raw(avif, channels)]
      const p = psnr(ours, theirs)
      assert.ok(p > floor, `${name}: PSNR ${p.toFixed(2)} dB against sharp's decode`)
    }
    assert.equal((await sharp(cases[3][1]).metadata()).bitsPerSample, 12, 'the 12-bit case is 12-bit')
    const { info } = await resize(alpha, { width: 100, format: 'webp', resolveWithObject: true })
    assert.deepEqual([info.width, info.channels], [100, 4], 'alpha reaches the output')
  })

  it('resizes from AVIF through resize() and a JobQueue, to every output format', async () => {
    const q = new JobQueue({ concurrency: 1 })
    try {
      for (const format of ['jpeg', 'png', 'webp', 'avif']) {
        const { data, info } = await resize(opaque, { width: 64, format, resolveWithObject: true })
        assert.deepEqual([info.format, info.width, info.height], [format, 64, 48])
        assert.deepEqual([(await sharp(data).metadata()).width, (await metadata(data)).format], [64, format])
        assert.ok((await q.add('resize', opaque, { width: 64, format })).equals(data), `${format}: the JobQueue path writes the same bytes`)
      }
    } finally {
      await q.close()
    }
    // As a composite overlay: the same output as the overlay's decoded pixels given as PNG.
    const overlay = await resize(translucent, { width: 40, format: 'avif' })
    const asPng = await resize(overlay, { format: 'png' })
    const over = (input) => resize(photo, { width: 120, format: 'png', composite: [{ input, gravity: 'northwest' }] })
    assert.ok((await over(overlay)).equals(await over(asPng)), 'an AVIF overlay composites as its decoded pixels')
  })

  it('limitInputPixels is checked from the header; a cut or scrambled bitstream is ERR_CORRUPT_INPUT', async () => {
    await assert.rejects(resize(opaque, { width: 50, limitInputPixels: 200 * 150 - 1 }), { code: 'ERR_LIMIT_EXCEEDED' })
    for (const keep of [0.3, 0.6, 0.95]) {
      const cut = opaque.subarray(0, Math.floor(opaque.length * keep))
      await assert.rejects(resize(cut, { width: 50 }), (e) => e.code === 'ERR_CORRUPT_INPUT', `kept ${keep}`)
    }
    const mdat = opaque.indexOf('mdat', 0, 'latin1')
    const scrambled = Buffer.from(opaque)
    for (let i = mdat + 12; i < scrambled.length; i += 7) scrambled[i] ^= 0x5a
    await assert.rejects(resize(scrambled, { width: 50 }), (e) => e.code === 'ERR_CORRUPT_INPUT')
  })

  it('a bitstream allowing larger frames than the header declares is refused before decoding', async () => {
    // The ispe property says 200x150; shrink it to 200x100: the sequence
    // header still allows 200x150, more pixels than limitInputPixels was
    // checked against.
    const lying = Buffer.from(opaque)
    const ispe = lying.indexOf('ispe', 0, 'latin1')
    assert.equal(lying.readUInt32BE(ispe + 12), 150)
    lying.writeUInt32BE(100, ispe + 12)
    await assert.rejects(resize(lying, { width: 50 }), { code: 'ERR_CORRUPT_INPUT', message: /allows frames of 200x150, larger than its header \(ispe\) says, 200x100/ })
  })

  it('a truncated or broken header is a coded error, never a crash', async () => {
    // metadata() reads up to the end of the meta box (as for the other
    // formats, the pixels are not looked at): every cut before it is refused.
    const ftypEnd = opaque.readUInt32BE(0)
    const metaEnd = ftypEnd + opaque.readUInt32BE(ftypEnd)
    assert.equal(opaque.toString('latin1', ftypEnd + 4, ftypEnd + 8), 'meta')
    for (let cut = 1; cut < metaEnd; cut++) {
      await assert.rejects(metadata(opaque.subarray(0, cut)), (e) => e.code === (cut < ftypEnd ? 'ERR_UNSUPPORTED_FORMAT' : 'ERR_CORRUPT_INPUT'), `cut ${cut}`)
    }
    assert.equal((await metadata(opaque.subarray(0, metaEnd))).width, 200)
    const huge = Buffer.from(opaque)
    huge.writeUInt32BE(0xffffffff, ftypEnd) // meta claims 4 GB
    await assert.rejects(metadata(huge), { code: 'ERR_CORRUPT_INPUT' })
  })
})

describe('AVIF through a native job', () => {
  const r = usePrivateRedis()

  for (const loop of LOOPS) {
    it(`writes an AVIF, and reads one, in the ${loop.kind}`, async () => {
      const ns = `avif-${loop.rust ? 'rust' : 'js'}`
      const jobs = { thumb: native('resize', { width: 64, format: 'avif' }) }
      const input = { base64: photo.toString('base64') }
      const avifInput = await sharp(photo).resize(200).avif().toBuffer()
      const entries = [
        { class: 'thumb', queue: 'q', args: [{ input, output: { key: `out:${ns}:0` }, chromaSubsampling: '4:2:0' }, { tag: 0 }] },
        { class: 'thumb', queue: 'q', args: [{ input, output: { key: `out:${ns}:1` }, format: 'webp', effort: 8 }, { tag: 1 }] },
        { class: 'thumb', queue: 'q', args: [{ input: { base64: avifInput.toString('base64') }, output: { key: `out:${ns}:2` }, format: 'png' }, { tag: 2 }] }
      ]
      const { outcomes } = await runEntries(r.server, r.redis, loop, { ns, jobs, entries })
      assert.ok(outcomes[0].ok, JSON.stringify(outcomes))
      const avif = await r.redis.getBuffer(`out:${ns}:0`)
      assert.ok(avif.equals(await resize(photo, { width: 64, format: 'avif', chromaSubsampling: '4:2:0' })), 'the same bytes as resize()')
      assert.equal(av1cSampling(avif), '4:2:0')
      assert.deepEqual([outcomes[1].ok, outcomes[1].code], [false, 'ERR_INVALID_ARG'])
      assert.match(outcomes[1].error, /effort must be an integer from 0 to 6 for WebP/)
      assert.ok(outcomes[2].ok, JSON.stringify(outcomes[2]))
      const png = await r.redis.getBuffer(`out:${ns}:2`)
      assert.ok(png.equals(await resize(avifInput, { width: 64, format: 'png' })), 'AVIF input: the same PNG as resize()')
      assert.deepEqual([(await metadata(png)).width, (await metadata(png)).height], [64, 48])
    })
  }
})
