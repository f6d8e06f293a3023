'use strict'

// metadata()'s fields beyond the basic header (exif, icc, xmp, density,
// isProgressive, pages, delay, loop, hasProfile, chromaSubsampling) read as
// sharp reads them: the repository's photos and animations sharp writes here
// are compared with sharp's own metadata(), field by field; the same fields
// reach JobQueue and native jobs in both worker loops; and an animation cut
// anywhere gives a coded error or what was read up to the cut, never a hang.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const sharp = require('sharp')
const { metadata, JobQueue, native } = require('..')
const { fixture } = require('./helpers/fixtures')
const { startRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')

const FIELDS = ['exif', 'icc', 'xmp', 'density', 'isProgressive', 'pages', 'delay', 'loop', 'hasProfile', 'chromaSubsampling']
const BLOCKS = ['exif', 'icc', 'xmp']

// Every format, with and without each block: EXIF+ICC+XMP (320x240.jpg),
// EXIF+XMP without ICC (Landscape_1), EXIF+ICC (Landscape_2..8), 4:2:0 and
// 4:4:4, PNG densities 72/96/300, ICC+XMP in a 16-bit PNG, a palette PNG,
// a still GIF and WebP with and without alpha, and truncated files.
const PHOTOS = [
  '320x240.jpg', '2569067123_aca715a2ee_o.jpg', 'truncated.jpg',
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((n) => `Landscape_${n}.jpg`),
  '16-bit-grey-alpha.png', '50020484-00001.png', 'grey-8bit-alpha.png', 'blackbug.png', 'swiss.png', 'truncated.png',
  'Crash_test.gif', '4.webp', '5_webp_a.webp'
]

/** Asserts `ours` reports each of FIELDS as `theirs` (sharp) does, absent where sharp's is. */
function assertSameDetails (ours, theirs, what) {
  for (const k of FIELDS) {
    assert.equal(k in ours, theirs[k] !== undefined, `${what}: ${k} present in rusque ${k in ours}, in sharp ${theirs[k] !== undefined}`)
    if (theirs[k] === undefined) continue
    if (BLOCKS.includes(k)) {
      assert.ok(Buffer.isBuffer(ours[k]), `${what}: ${k} is a Buffer`)
      assert.ok(ours[k].equals(theirs[k]), `${what}: ${k} bytes (${ours[k].length} vs sharp's ${theirs[k].length})`)
    } else {
      assert.deepEqual(ours[k], theirs[k], `${what}: ${k}`)
    }
  }
}

describe('metadata() reads the details as sharp does', () => {
  it('for every photo the repository carries', async () => {
    for (const name of PHOTOS) {
      const input = fixture(name)
      assertSameDetails(await metadata(input), await sharp(input).metadata(), name)
    }
  })

  it('the fixtures cover each field with a value (the comparison is not vacuous)', async () => {
    const all = await Promise.all(PHOTOS.map((n) => metadata(fixture(n))))
    // isProgressive: none of them is; the next test writes progressive files.
    for (const k of FIELDS.filter((f) => f !== 'isProgressive')) assert.ok(all.some((m) => m[k] !== undefined && m[k] !== false), `some fixture has ${k}`)
    const m = all[0]
    assert.deepEqual([m.exif.length, m.icc.length, m.xmp.length, m.density, m.chromaSubsampling], [11399, 3144, 2565, 72, '4:4:4'])
  })

  it('progressive JPEG, interlaced PNG, subsampling, density and a kept profile, written by sharp', async () => {
    const photo = fixture('320x240.jpg')
    const files = [
      await sharp(photo).jpeg({ progressive: true }).toBuffer(),
      await sharp(photo).jpeg({ chromaSubsampling: '4:4:4' }).withMetadata({ density: 300 }).toBuffer(),
      await sharp(photo).png({ progressive: true }).withMetadata({ density: 150 }).toBuffer(),
      await sharp(photo).webp().keepIccProfile().keepExif().toBuffer()
    ]
    const ours = await Promise.all(files.map((f) => metadata(f)))
    for (let i = 0; i < files.length; i++) assertSameDetails(ours[i], await sharp(files[i]).metadata(), `written ${i}`)
    assert.deepEqual(ours.map((m) => m.isProgressive), [true, false, true, false])
    assert.deepEqual([ours[1].density, ours[1].chromaSubsampling, ours[2].density], [300, '4:4:4', 150])
    assert.ok(ours[3].hasProfile && ours[3].exif.length > 0, 'WebP keeps ICC and EXIF chunks')
  })
})

/** An animation of `n` 16x12 frames written by sharp as `format` with `options`. */
async function animation (format, n, options) {
  const [w, h] = [16, 12]
  const raw = Buffer.alloc(w * h * n * 4)
  for (let i = 0; i < raw.length; i += 4) raw.set([(i * 7) & 255, (i >> 5) & 255, 99 + (i % 13), 255], i)
  return sharp(raw, { raw: { width: w, height: h * n, channels: 4, pageHeight: h } })[format](options).toBuffer()
}

const ANIMATIONS = [
  ['gif', 3, { loop: 3, delay: [100, 250, 40] }],
  ['gif', 2, { loop: 0, delay: [20, 30] }],
  ['gif', 4, { loop: 1, delay: [500, 10, 70, 1000] }],
  ['webp', 3, { loop: 0, delay: [120, 80, 60] }],
  ['webp', 2, { loop: 5, delay: [1000, 33] }]
]

describe('animations sharp writes', () => {
  for (const [format, n, options] of ANIMATIONS) {
    it(`${format}, ${n} frames, ${JSON.stringify(options)}: pages, delay and loop as sharp reads them`, async () => {
      const file = await animation(format, n, options)
      const ours = await metadata(file)
      assertSameDetails(ours, await sharp(file).metadata(), `${format} ${JSON.stringify(options)}`)
      assert.deepEqual([ours.pages, ours.delay, ours.loop], [n, options.delay, options.loop], 'what was written')
      assert.deepEqual([ours.width, ours.height], [16, 12], 'one frame\'s size')
    })
  }

  it('cut at every byte: a coded error or a partial count, never a crash or a hang', async () => {
    for (const [format, n, options] of ANIMATIONS.slice(0, 4)) {
      const file = await animation(format, n, options)
      const seen = new Set()
      for (let cut = 1; cut < file.length; cut++) {
        let m
        try {
          m = await metadata(file.subarray(0, cut))
        } catch (err) {
          assert.match(err.code, /^ERR_(CORRUPT_INPUT|UNSUPPORTED_FORMAT)$/, `${format} cut at ${cut}: ${err.message}`)
          seen.add(err.code)
          continue
        }
        seen.add('read')
        assert.equal(m.format, format)
        if (m.pages !== undefined) {
          assert.ok(m.pages >= 0 && m.pages <= n, `${format} cut at ${cut}: ${m.pages} pages`)
          assert.equal(m.delay.length, format === 'gif' ? Math.max(m.pages, 1) : m.pages, `${format} cut at ${cut}: a delay per page`)
          assert.ok(m.delay.every((d, i) => d === options.delay[i] || (i === m.delay.length - 1 && d === 0)), `${format} cut at ${cut}: delays ${m.delay}`)
        }
      }
      assert.ok(seen.has('read') && seen.has('ERR_CORRUPT_INPUT'), `${format}: both outcomes occur (${[...seen]})`)
    }
  })

  it('hostile counts: a GIF of many empty frames and WebP chunks claiming more than the file', async () => {
    // 20000 frame descriptors with empty data: one pass, one delay each.
    const frame = Buffer.from([0x21, 0xf9, 4, 0, 3, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 0])
    const gif = Buffer.concat([Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00', 'latin1'), Buffer.alloc(frame.length * 20000, frame), Buffer.from([0x3b])])
    const g = await metadata(gif)
    assert.deepEqual([g.pages, g.delay.length, g.delay[19999], g.loop], [20000, 20000, 30, 1])
    const webp = await animation('webp', 2, { loop: 0, delay: [10, 20] })
    const lying = Buffer.from(webp)
    const anmf = lying.indexOf('ANMF')
    lying.writeUInt32LE(0xfffffff0, anmf + 4) // the first frame claims 4 GiB
    const w = await metadata(lying).catch((err) => err)
    if (w instanceof Error) assert.equal(w.code, 'ERR_CORRUPT_INPUT')
    else assert.ok(w.pages <= 2, `${w.pages} pages`)
  })
})

describe('every path reports the details', () => {
  let server, redis
  before(async () => {
    server = await startRedis()
    redis = server.client()
  })
  after(async () => { await server.close() })

  it('JobQueue#add(\'metadata\') gives what metadata() gives', async () => {
    const q = new JobQueue()
    for (const name of ['320x240.jpg', '16-bit-grey-alpha.png', 'Crash_test.gif']) {
      assert.deepEqual(await q.add('metadata', fixture(name)), await metadata(fixture(name)), name)
    }
    const gif = await animation('gif', 3, { loop: 3, delay: [100, 250, 40] })
    assert.deepEqual(await q.add('metadata', gif), await metadata(gif))
    await q.close()
  })

  for (const loop of LOOPS) {
    it(`a native metadata job in the ${loop.kind}: the fields as JSON, the blocks as sizes`, async () => {
      const ns = `details-${loop.rust ? 'rust' : 'js'}`
      const gif = await animation('gif', 3, { loop: 3, delay: [100, 250, 40] })
      const inputs = [fixture('320x240.jpg'), fixture('16-bit-grey-alpha.png'), gif, fixture('4.webp')]
      const entries = inputs.map((b, i) => ({ class: 'info', queue: 'q', args: [{ input: { base64: b.toString('base64') }, output: { key: `out:${ns}:${i}` } }, { tag: i }] }))
      const { outcomes } = await runEntries(server, redis, loop, { ns, jobs: { info: native('metadata') }, entries })
      for (let i = 0; i < inputs.length; i++) {
        assert.ok(outcomes[i].ok, JSON.stringify(outcomes[i]))
        const m = await metadata(inputs[i])
        const expected = { ...m, key: `out:${ns}:${i}` }
        for (const k of BLOCKS) {
          delete expected[k]
          if (m[k]) expected[`${k}Size`] = m[k].length
        }
        assert.deepEqual(outcomes[i].result, expected, `input ${i}: success event`)
        const stored = JSON.parse(await redis.get(`out:${ns}:${i}`))
        delete expected.key
        assert.deepEqual(stored, expected, `input ${i}: the output key`)
      }
      assert.deepEqual([outcomes[0].result.exifSize, outcomes[0].result.iccSize, outcomes[0].result.xmpSize], [11399, 3144, 2565])
    })
  }
})
