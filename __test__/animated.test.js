'use strict'

// Animated GIF and WebP (issue #16): `animated: true` resizes every frame
// and keeps the delays and loop count. Animations are written here by sharp
// (a pan across a photo the repository carries, one distinct frame per
// step), resized by rusque and by sharp's own animated resize, and compared:
// frame count, frame size, delays and loop read back by both, and the pixels
// of every frame decoded by sharp (PSNR). Every path: resize(), JobQueue, a
// native job in each worker loop. Hostile animations: Rust tests in
// crates/core/src/tasks/image/animated.rs, and a few here through the API.

const { describe, it, before } = require('node:test')
const assert = require('node:assert/strict')
const sharp = require('sharp')
const { resize, metadata, JobQueue, native } = require('..')
const { fixture } = require('./helpers/fixtures')
const { usePrivateRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')

const DELAYS = [80, 120, 40, 200, 60]
const LOOP = 2

/** A 160x120 pan across the photo, one frame per delay, written by sharp as `format`. */
async function pan (format, options = {}) {
  const [w, h] = [160, 120]
  const frames = await Promise.all(DELAYS.map((_, i) => sharp(fixture('320x240.jpg')).extract({ left: i * 30, top: i * 20, width: w, height: h }).ensureAlpha().raw().toBuffer()))
  const raw = Buffer.concat(frames)
  return sharp(raw, { raw: { width: w, height: h * frames.length, channels: 4, pageHeight: h } })[format]({ delay: DELAYS, loop: LOOP, ...options }).toBuffer()
}

/** Every frame of an animation, stacked, as RGB decoded by sharp. */
async function frames (buf) {
  const { data, info } = await sharp(buf, { animated: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, channels: info.channels }
}

function psnr (a, b) {
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels], 'same size to compare')
  let sse = 0
  for (let i = 0; i < a.data.length; i++) sse += (a.data[i] - b.data[i]) ** 2
  return sse === 0 ? Infinity : 10 * Math.log10((255 * 255 * a.data.length) / sse)
}

/** sharp's and rusque's metadata() of an animation: the same pages, delays and loop, and the frame size. */
async function timing (buf) {
  const [ours, theirs] = [await metadata(buf), await sharp(buf).metadata()]
  const pick = (m) => ({ format: m.format, width: m.width, height: m.height, pages: m.pages, delay: m.delay, loop: m.loop })
  assert.deepEqual(pick(ours), pick(theirs), 'rusque and sharp read the animation alike')
  return pick(ours)
}

const input = {}
before(async () => {
  input.gif = await pan('gif')
  input.webp = await pan('webp', { quality: 90 })
})

describe('animated: true', () => {
  // Minimum PSNR against sharp's own animated resize (palettes differ in GIF).
  const FLOOR = { webp: 26, gif: 20 }

  for (const from of ['gif', 'webp']) {
    for (const to of ['gif', 'webp']) {
      it(`${from} to ${to}: every frame resized, delays and loop kept, pixels as sharp's`, async () => {
        const src = await timing(input[from])
        assert.deepEqual([src.pages, src.delay, src.loop], [5, DELAYS, LOOP])
        const ours = await resize(input[from], { animated: true, width: 80, format: to })
        const theirs = await sharp(input[from], { animated: true }).resize(80).toFormat(to).toBuffer()
        const want = { format: to, width: 80, height: 60, pages: 5, delay: DELAYS, loop: LOOP }
        assert.deepEqual(await timing(ours), want)
        assert.deepEqual(await timing(theirs), want, "sharp's resize of the same input")
        const p = psnr(await frames(ours), await frames(theirs))
        assert.ok(p >= FLOOR[to], `${from} to ${to}: PSNR ${p.toFixed(2)} dB against sharp's, floor ${FLOOR[to]}`)
      })
    }
  }

  it('every frame is resized as a still image would be (sharp shrinks WebP on load, so its own is 28 dB away)', async () => {
    // The reference: sharp decodes every frame, then resizes each one alone.
    const all = await sharp(input.webp, { animated: true }).raw().toBuffer()
    const size = 160 * 120 * 4
    const each = await Promise.all(DELAYS.map((_, f) => sharp(all.subarray(f * size, (f + 1) * size), { raw: { width: 160, height: 120, channels: 4 } }).resize(80).removeAlpha().raw().toBuffer()))
    const reference = { data: Buffer.concat(each), width: 80, height: 300, channels: 3 }
    const ours = psnr(await frames(await resize(input.webp, { animated: true, width: 80, format: 'webp', lossless: true })), reference)
    assert.ok(ours > 40, `PSNR ${ours.toFixed(2)} dB against each frame resized alone`)
  })

  it('the output format defaults to the input\'s; without animated, the first frame (a GIF becomes PNG)', async () => {
    assert.equal((await metadata(await resize(input.gif, { animated: true, width: 40 }))).pages, 5)
    assert.equal((await metadata(await resize(input.webp, { animated: true, width: 40 }))).format, 'webp')
    const first = await resize(input.gif, { width: 40 })
    assert.equal((await metadata(first)).format, 'png')
    const still = await resize(input.webp, { width: 40 })
    assert.equal((await metadata(still)).pages, undefined)
    // The first frame is the first frame: close to the animation's first frame.
    const a = await sharp(first).removeAlpha().raw().toBuffer()
    const b = (await frames(await resize(input.gif, { animated: true, width: 40, format: 'webp', lossless: true }))).data.subarray(0, a.length)
    assert.ok(psnr({ data: a, width: 40, height: 30, channels: 3 }, { data: b, width: 40, height: 30, channels: 3 }) > 30)
  })

  it('loop and delay override the input\'s, for GIF and WebP', async () => {
    for (const format of ['gif', 'webp']) {
      const t = await timing(await resize(input.webp, { animated: true, width: 40, format, loop: 0, delay: 100 }))
      assert.deepEqual([t.pages, t.delay, t.loop], [5, [100, 100, 100, 100, 100], 0], format)
      const each = await timing(await resize(input.gif, { animated: true, width: 40, format, delay: [10, 20, 30, 40, 50], loop: 7 }))
      assert.deepEqual([each.delay, each.loop], [[10, 20, 30, 40, 50], 7], format)
    }
  })

  it('operations apply to every frame', async () => {
    const opts = { animated: true, extract: { left: 0, top: 0, width: 80, height: 120 }, width: 60, flop: true, greyscale: true, format: 'webp', lossless: true }
    const ours = await resize(input.gif, opts)
    const theirs = await sharp(input.gif, { animated: true }).extract({ left: 0, top: 0, width: 80, height: 120 }).resize(60).flop().greyscale().webp({ lossless: true }).toBuffer()
    const t = await timing(ours)
    assert.deepEqual([t.width, t.height, t.pages], [60, 90, 5])
    const p = psnr(await frames(ours), await frames(theirs))
    assert.ok(p >= 26, `PSNR ${p.toFixed(2)} dB against sharp's`)
    // sharp refuses rotate for animations, and its flip mirrors the stack of
    // frames (their order too); rusque turns and flips each frame.
    const turned = await timing(await resize(input.gif, { ...opts, rotate: 90 }))
    assert.deepEqual([turned.width, turned.height, turned.pages], [60, 40, 5])
    const flipped = await frames(await resize(input.gif, { ...opts, flop: false, flip: true }))
    const upright = await frames(await resize(input.gif, { ...opts, flop: false }))
    const row = (img, frame, y) => img.data.subarray(((frame * 90 + y) * 60) * 3, ((frame * 90 + y + 1) * 60) * 3)
    for (const f of [0, 4]) assert.ok(psnr({ data: row(flipped, f, 0), width: 60, height: 1, channels: 3 }, { data: row(upright, f, 89), width: 60, height: 1, channels: 3 }) > 40, `frame ${f} upside down`)
  })

  it('resolveWithObject reports pages and pageHeight as sharp does', async () => {
    const { data, info } = await resize(input.gif, { animated: true, width: 80, format: 'webp', resolveWithObject: true })
    const sharps = await sharp(input.gif, { animated: true }).resize(80).webp().toBuffer({ resolveWithObject: true })
    assert.deepEqual(info, { format: 'webp', width: 80, height: 300, channels: 4, size: data.length, pages: 5, pageHeight: 60 })
    assert.deepEqual([info.height, info.pages, info.pageHeight], [sharps.info.height, sharps.info.pages, sharps.info.pageHeight])
    const still = await resize(input.gif, { width: 80, resolveWithObject: true })
    assert.ok(!('pages' in still.info) || still.info.pages === undefined)
  })

  it('GIF output, still: colours and dither shape its palette', async () => {
    const photo = fixture('320x240.jpg')
    const gif = await resize(photo, { width: 160, format: 'gif' })
    const m = await sharp(gif).metadata()
    assert.deepEqual([m.format, m.width, m.height, m.pages], ['gif', 160, 120, 1])
    const reference = { ...(await frames(await resize(photo, { width: 160, format: 'png' }))) }
    const p = psnr(await frames(gif), reference)
    assert.ok(p > 25, `256 colours: PSNR ${p.toFixed(2)} dB`)
    await assert.rejects(resize(photo, { width: 16, format: 'gif', keepExif: true }), { code: 'ERR_INVALID_ARG', message: /not supported for GIF output yet/ })
    const few = await resize(photo, { width: 160, format: 'gif', colours: 8, dither: 0 })
    assert.ok(few.length < gif.length, `${few.length} < ${gif.length}`)
    assert.ok(psnr(await frames(few), reference) < p)
  })

  it('refusals are coded and come before decoding', async () => {
    await assert.rejects(resize(input.gif, { animated: true, format: 'jpeg' }), { code: 'ERR_INVALID_ARG', message: /animated: true writes every frame of this 5-frame gif into an animated GIF or WebP, but format is 'jpeg'/ })
    await assert.rejects(resize(input.gif, { animated: true, keepMetadata: true }), { code: 'ERR_INVALID_ARG', message: /not supported for animated output/ })
    await assert.rejects(resize(input.gif, { animated: true, delay: [1, 2] }), { code: 'ERR_INVALID_ARG', message: 'delay has 2 entries but the animation has 5 frames: give one per frame, or one number for all' })
    await assert.rejects(resize(input.gif, { animated: true, delay: -1 }), { code: 'ERR_INVALID_ARG', message: /^delay must be an integer from 0 to 16777215/ })
    await assert.rejects(resize(input.gif, { animated: true, loop: 65536 }), { code: 'ERR_INVALID_ARG', message: 'loop must be an integer from 0 to 65535, got number 65536' })
    await assert.rejects(resize(input.gif, { animated: 'yes' }), { code: 'ERR_INVALID_ARG', message: 'animated must be a boolean, got a string ("yes")' })
    // limitInputPixels counts every frame: 160x120x5 = 96000.
    await assert.rejects(resize(input.gif, { animated: true, limitInputPixels: 95999 }), { code: 'ERR_LIMIT_EXCEEDED', message: /160x120 in 5 frames \(96000 pixels\)/ })
    assert.equal((await metadata(await resize(input.gif, { animated: true, width: 8, limitInputPixels: 96000 }))).pages, 5)
    assert.ok(await resize(input.gif, { width: 8, limitInputPixels: 19200 }), 'the first frame alone meets its limit')
    // A still image with animated: true is a still image, whatever the format.
    assert.equal((await metadata(await resize(fixture('320x240.jpg'), { animated: true, width: 8 }))).format, 'jpeg')
  })

  it('a truncated animation is ERR_CORRUPT_INPUT', async () => {
    for (const from of ['gif', 'webp']) {
      const cut = input[from].subarray(0, Math.floor(input[from].length * 0.7))
      await assert.rejects(resize(cut, { animated: true, width: 40 }), { code: 'ERR_CORRUPT_INPUT' }, from)
    }
  })

  it('an aborted call stops', async () => {
    const ac = new AbortController()
    const p = resize(input.webp, { animated: true, width: 80, signal: ac.signal })
    ac.abort()
    await assert.rejects(p, { code: 'ABORT_ERR' })
  })

  it('JobQueue writes the same bytes as resize()', async () => {
    const q = new JobQueue({ concurrency: 1 })
    try {
      const opts = { animated: true, width: 64, format: 'gif' }
      assert.ok((await q.add('resize', input.webp, opts)).equals(await resize(input.webp, opts)))
    } finally {
      await q.close()
    }
  })
})

describe('animated through a native job', () => {
  const r = usePrivateRedis()

  for (const loop of LOOPS) {
    it(`writes an animated WebP in the ${loop.kind}`, async () => {
      const ns = `anim-${loop.rust ? 'rust' : 'js'}`
      const jobs = { thumb: native('resize', { width: 64, animated: true }) }
      const entries = [
        { class: 'thumb', queue: 'q', args: [{ input: { base64: input.gif.toString('base64') }, output: { key: `out:${ns}:0` }, format: 'webp', resolveWithObject: true }, { tag: 0 }] },
        { class: 'thumb', queue: 'q', args: [{ input: { base64: input.gif.toString('base64') }, output: { key: `out:${ns}:1` }, format: 'png' }, { tag: 1 }] }
      ]
      const { outcomes } = await runEntries(r.server, r.redis, loop, { ns, jobs, entries })
      assert.ok(outcomes[0].ok, JSON.stringify(outcomes))
      const out = await r.redis.getBuffer(`out:${ns}:0`)
      assert.ok(out.equals(await resize(input.gif, { width: 64, animated: true, format: 'webp' })), 'the same bytes as resize()')
      assert.deepEqual([outcomes[0].result.pages, outcomes[0].result.pageHeight, outcomes[0].result.height], [5, 48, 240])
      assert.deepEqual([outcomes[1].ok, outcomes[1].code], [false, 'ERR_INVALID_ARG'])
    })
  }
})
