'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { resize, metadata } = require('..')
const { fixture, raw, meanAbsDiff, MAGIC, sofMarker } = require('./helpers/fixtures')

const big = fixture('2569067123_aca715a2ee_o.jpg') // 2725x2225

test('width and height give exactly that size (cover)', async () => {
  const out = await resize(big, { width: 720, height: 588 })
  const m = await metadata(out)
  assert.equal(m.format, 'jpeg')
  assert.deepEqual([m.width, m.height], [720, 588])
})

test('width alone keeps the aspect ratio; so does height alone', async () => {
  const w = await metadata(await resize(big, { width: 300 }))
  assert.deepEqual([w.width, w.height], [300, Math.round(2225 * 300 / 2725)])
  const h = await metadata(await resize(big, { height: 300 }))
  assert.deepEqual([h.width, h.height], [Math.round(2725 * 300 / 2225), 300])
})

test('no width or height: same size, re-encoded', async () => {
  const m = await metadata(await resize(fixture('320x240.jpg'), { format: 'png' }))
  assert.deepEqual([m.format, m.width, m.height], ['png', 320, 240])
})

test('fit modes give sharp\'s output sizes', async () => {
  const input = fixture('320x240.jpg') // 4:3
  const size = async (fit) => {
    const m = await metadata(await resize(input, { width: 100, height: 100, fit }))
    return [m.width, m.height]
  }
  assert.deepEqual(await size('cover'), [100, 100])
  assert.deepEqual(await size('contain'), [100, 100])
  assert.deepEqual(await size('fill'), [100, 100])
  assert.deepEqual(await size('inside'), [100, 75])
  assert.deepEqual(await size('outside'), [133, 100])
})

// A synthetic image: left half red, right half blue, 200x100.
async function halves () {
  const sharp = require('sharp')
  const data = Buffer.alloc(200 * 100 * 3)
  for (let y = 0; y < 100; y++) {
    for (let x = 0; x < 200; x++) {
      const i = (y * 200 + x) * 3
      if (x < 100) data[i] = 255
      else data[i + 2] = 255
    }
  }
  return sharp(data, { raw: { width: 200, height: 100, channels: 3 } }).png().toBuffer()
}

test('cover crops around position', async () => {
  const input = await halves()
  const left = await raw(await resize(input, { width: 50, height: 50, position: 'left', format: 'png' }))
  const right = await raw(await resize(input, { width: 50, height: 50, position: 'right', format: 'png' }))
  const centre = await raw(await resize(input, { width: 50, height: 50, format: 'png' }))
  // left crop is all red, right crop all blue, centre has both.
  // (Edge pixels may blend a little across the crop: the kernel sees beyond it.)
  const px = (img, x, y) => [...img.data.subarray((y * 50 + x) * 3, (y * 50 + x) * 3 + 3)]
  assert.deepEqual(px(left, 5, 25), [255, 0, 0])
  assert.deepEqual(px(left, 44, 25), [255, 0, 0])
  assert.deepEqual(px(right, 5, 25), [0, 0, 255])
  assert.deepEqual(px(right, 44, 25), [0, 0, 255])
  assert.deepEqual(px(centre, 5, 25), [255, 0, 0])
  assert.deepEqual(px(centre, 44, 25), [0, 0, 255])
})

test('fill stretches, contain letterboxes onto background', async () => {
  const input = await halves()
  const fill = await raw(await resize(input, { width: 50, height: 50, fit: 'fill', format: 'png' }))
  assert.ok(fill.data[0] > 250 && fill.data[(25 * 50 + 49) * 3 + 2] > 250)
  const contain = await raw(await resize(input, { width: 50, height: 50, fit: 'contain', background: '#00ff00', format: 'png' }))
  // 200x100 into 50x50 → 50x25 image centred; rows 0..11 are green background.
  assert.deepEqual([...contain.data.subarray(0, 3)], [0, 255, 0])
  assert.deepEqual([...contain.data.subarray((49 * 50) * 3, (49 * 50) * 3 + 3)], [0, 255, 0])
  const mid = (25 * 50 + 5) * 3
  assert.ok(contain.data[mid] > 250 && contain.data[mid + 1] < 5)
})

test('withoutEnlargement keeps a small image at its size', async () => {
  const m = await metadata(await resize(fixture('320x240.jpg'), { width: 1000, withoutEnlargement: true }))
  assert.deepEqual([m.width, m.height], [320, 240])
  const enlarged = await metadata(await resize(fixture('320x240.jpg'), { width: 1000 }))
  assert.deepEqual([enlarged.width, enlarged.height], [1000, 750])
})

test('every kernel resizes', async () => {
  for (const kernel of ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos3']) {
    const m = await metadata(await resize(fixture('320x240.jpg'), { width: 64, kernel }))
    assert.deepEqual([m.width, m.height], [64, 48], kernel)
  }
})

test('output format by magic bytes; default keeps the input format, GIF becomes PNG', async () => {
  const jpg = fixture('320x240.jpg')
  assert.ok(MAGIC.jpeg(await resize(jpg, { width: 50 })))
  assert.ok(MAGIC.png(await resize(jpg, { width: 50, format: 'png' })))
  assert.ok(MAGIC.webp(await resize(jpg, { width: 50, format: 'webp' })))
  assert.ok(MAGIC.jpeg(await resize(jpg, { width: 50, format: 'jpg' })))
  assert.ok(MAGIC.png(await resize(fixture('Crash_test.gif'), { width: 50 })))
  assert.ok(MAGIC.webp(await resize(fixture('4.webp'), { width: 50 })))
  assert.ok(MAGIC.png(await resize(fixture('swiss.png'), { width: 50 })))
})

test('quality changes JPEG size', async () => {
  const low = await resize(big, { width: 720, quality: 20 })
  const high = await resize(big, { width: 720, quality: 95 })
  assert.ok(low.length < high.length * 0.6, `${low.length} vs ${high.length}`)
})

test('progressive: true writes a progressive JPEG (SOF2) that reads back alike', async () => {
  const src = fixture('320x240.jpg')
  const baseline = await resize(src, { width: 160, format: 'jpeg' })
  const progressive = await resize(src, { width: 160, format: 'jpeg', progressive: true })
  assert.equal(sofMarker(baseline), 0xc0, 'the default is baseline (SOF0)')
  assert.equal(sofMarker(progressive), 0xc2, 'progressive: SOF2')
  const m = await metadata(progressive)
  assert.deepEqual([m.format, m.width, m.height], ['jpeg', 160, 120])
  // Decoded (by libvips here, by rusque below), it is the same picture as the baseline one.
  assert.ok(meanAbsDiff(await raw(progressive), await raw(baseline)) < 2, 'same pixels within rounding')
  const again = await resize(progressive, { width: 80, format: 'png' })
  assert.deepEqual([(await metadata(again)).width, (await metadata(again)).height], [80, 60])
  // Other formats ignore it, as sharp's JPEG-only option does.
  assert.ok(MAGIC.png(await resize(src, { width: 16, format: 'png', progressive: true })))
  await assert.rejects(resize(src, { width: 16, progressive: 'yes' }), { code: 'ERR_INVALID_ARG', message: 'progressive must be a boolean, got a string ("yes")' })
})

test('alpha is kept for PNG and WebP, flattened onto background for JPEG', async () => {
  const input = fixture('blackbug.png') // RGBA
  const meta = await metadata(input)
  assert.equal(meta.hasAlpha, true)
  const png = await resize(input, { width: 256 })
  assert.equal((await metadata(png)).hasAlpha, true)
  const webp = await resize(input, { width: 256, format: 'webp' })
  assert.equal((await metadata(webp)).hasAlpha, true)
  const pngPixels = await raw(png, 4)
  const alphas = new Set()
  for (let i = 3; i < pngPixels.data.length; i += 4) alphas.add(pngPixels.data[i])
  assert.ok(alphas.has(0) || alphas.size > 1, 'transparent pixels survive the resize')

  const jpeg = await resize(input, { width: 256, format: 'jpeg', background: '#ff0000' })
  const m = await metadata(jpeg)
  assert.equal(m.hasAlpha, false)
  // Where the PNG was fully transparent, the JPEG shows the red background.
  const flat = await raw(jpeg)
  let checked = 0
  for (let p = 0; p < pngPixels.width * pngPixels.height; p++) {
    if (pngPixels.data[p * 4 + 3] === 0) {
      const [r, g, b] = flat.data.subarray(p * 3, p * 3 + 3)
      if (checked++ < 50) assert.ok(r > 200 && g < 60 && b < 60, `pixel ${p}: ${r},${g},${b}`)
    }
  }
  assert.ok(checked > 0, 'the fixture has transparent pixels')
})

test('grey+alpha and 16-bit PNGs come out as RGBA PNG', async () => {
  for (const name of ['grey-8bit-alpha.png', '16-bit-grey-alpha.png']) {
    const m = await metadata(await resize(fixture(name), { width: 40 }))
    assert.equal(m.format, 'png')
    assert.equal(m.width, 40)
    assert.equal(m.hasAlpha, true)
  }
})

test('EXIF orientations 1-8 all come out upright and alike', async () => {
  const reference = await raw(await resize(fixture('Landscape_1.jpg'), { width: 300, format: 'png' }))
  assert.deepEqual([reference.width, reference.height], [300, 225])
  for (let o = 2; o <= 8; o++) {
    const input = fixture(`Landscape_${o}.jpg`)
    assert.equal((await metadata(input)).orientation, o)
    const out = await raw(await resize(input, { width: 300, format: 'png' }))
    assert.deepEqual([out.width, out.height], [300, 225], `orientation ${o}`)
    const diff = meanAbsDiff(out, reference)
    assert.ok(diff < 8, `orientation ${o}: mean difference ${diff.toFixed(2)}`)
  }
  // Without autoOrient the stored layout comes through: different from upright.
  const stored = await raw(await resize(fixture('Landscape_3.jpg'), { width: 300, format: 'png', autoOrient: false }))
  assert.ok(meanAbsDiff(stored, reference) > 40)
  const sideways = await metadata(await resize(fixture('Landscape_6.jpg'), { width: 300, autoOrient: false }))
  assert.deepEqual([sideways.width, sideways.height], [300, 400])
})

test('embedded ICC profiles are converted to sRGB, as sharp does', async () => {
  // Landscape_2.jpg carries a display profile; its raw values are not sRGB.
  const sharp = require('sharp')
  const input = fixture('Landscape_2.jpg')
  const ours = await raw(await resize(input, { width: 300, format: 'png', autoOrient: false }))
  const theirs = await raw(await sharp(input).resize(300).png().toBuffer())
  const diff = meanAbsDiff(ours, theirs)
  assert.ok(diff < 5, `mean difference against sharp's colour-managed output ${diff.toFixed(2)}`)
})

test('downscaled JPEG matches a full-resolution reference closely', async () => {
  // rusque decodes JPEGs at reduced DCT size when it can; compare with sharp's output.
  const sharp = require('sharp')
  const ours = await raw(await resize(big, { width: 720, height: 588, format: 'png' }))
  const theirs = await raw(await sharp(big).resize(720, 588).png().toBuffer())
  const diff = meanAbsDiff(ours, theirs)
  assert.ok(diff < 3, `mean difference against sharp ${diff.toFixed(2)}`)
})

test('the input buffer is left untouched', async () => {
  const input = fixture('320x240.jpg')
  const copy = Buffer.from(input)
  await resize(input, { width: 10 })
  assert.ok(input.equals(copy))
})

test('accepts Uint8Array and ArrayBuffer inputs', async () => {
  const buf = fixture('320x240.jpg')
  const u8 = new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
  assert.equal((await metadata(await resize(u8, { width: 32 }))).width, 32)
  assert.equal((await metadata(await resize(u8.buffer, { width: 16 }))).width, 16)
})
