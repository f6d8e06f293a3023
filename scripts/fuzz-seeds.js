#!/usr/bin/env node
'use strict'

// Writes seed inputs for the fuzz targets into fuzz/seeds/<target>/:
// the small fixtures as they are, plus tiny images in many encodings of each
// format (progressive and CMYK JPEG, EXIF orientations, palette, 16-bit,
// interlaced PNG, lossy and lossless WebP with alpha, animated GIF). Tiny
// seeds keep each fuzz execution fast; the variety reaches the decoders'
// less common paths. The variants come from sharp (a dev dependency); without
// it, only the fixtures are copied.
//
//   node scripts/fuzz-seeds.js [out=fuzz/seeds] [fixtures=fixtures/images]

const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const out = path.resolve(process.argv[2] || path.join(root, 'fuzz', 'seeds'))
const fixtures = path.resolve(process.argv[3] || process.env.RUSQUE_FIXTURES || path.join(root, 'fixtures', 'images'))
// Larger fixtures would make every execution slow; the tiny variants stand in for them.
const MAX_SEED_BYTES = 160 * 1024

const FORMATS = { jpeg: /\.jpe?g$/i, png: /\.png$/i, webp: /\.webp$/i, gif: /\.gif$/i, avif: /\.avif$/i }
const TARGETS = {
  resize_jpeg: ['jpeg'],
  resize_png: ['png'],
  resize_webp: ['webp'],
  resize_gif: ['gif'],
  resize_avif: ['avif'],
  resize_animated_gif: ['gif', 'animated-gif'],
  resize_animated_webp: ['webp', 'animated-webp'],
  metadata: ['jpeg', 'png', 'webp', 'gif', 'avif'],
  metadata_avif: ['avif'],
  resize_options: ['options'],
  resize_steps: [],
  resize_composite: ['composite'],
  resque_payload: ['resque']
}

const seeds = { jpeg: [], png: [], webp: [], gif: [], avif: [], resque: [], options: [], composite: [], 'animated-gif': [], 'animated-webp': [] }

// The resize_composite target reads 6 bytes (base size, alpha and placement,
// offsets, blend; layout in fuzz/src/lib.rs, check_resize_composite) and then
// an overlay: every small image seed, behind two heads (a gravity, an offset).
function compositeSeeds () {
  const heads = { gravity: [40, 30, 1, 2, 2, 0], offset: [20, 20, 2, 0xfe, 3, 1] }
  for (const format of ['jpeg', 'png', 'webp', 'gif']) {
    for (const [name, bytes] of seeds[format]) {
      if (bytes.length > 32 * 1024) continue
      for (const [how, head] of Object.entries(heads)) add('composite', `${how}-${name}`, Buffer.concat([Buffer.from(head), bytes]))
    }
  }
}

// Byte strings for the resize_options target (layout in fuzz/src/lib.rs,
// check_resize_options): issue #12's cases and an ordinary resize.
function optionsSeeds () {
  // [format+alpha, width side, height side, flags, width (2), height (2), fit, kernel, format, quality, position, out limit, in limit, pixels...]
  const cases = {
    // 1x16383 PNG to width 65535 (0 reads as 65535): 211 TB.
    'tall-strip-to-65535': [0, 0, 0xf3, 0b10001, 0, 0, 0, 0, 0, 4, 0, 79, 4, 0, 0, 7, 200, 31],
    // 1x2 PNG, fit outside 65535x65535: 25 GB.
    'outside-65535': [0, 0, 1, 0b10011, 0, 0, 0, 0, 4, 4, 0, 79, 4, 0, 0, 90],
    // 16x16 to 20000x20000 WebP: over the encoder's 16383.
    'webp-20000': [0x80, 15, 15, 0b10011, 0x4e, 0x20, 0x4e, 0x20, 2, 4, 3, 79, 4, 3, 0, 1, 2, 3, 4],
    // 32x24 JPEG to 16 wide, within every limit.
    'ordinary': [1, 31, 23, 0b10001, 0, 16, 0, 0, 0, 4, 1, 80, 4, 3, 0, 10, 200, 30, 250],
    // 16x16 RGBA contained in 300x200 with a transparent background, output PNG.
    'contain-transparent': [0x80, 15, 15, 0b10111, 0x01, 0x2c, 0, 200, 1, 3, 2, 80, 0, 3, 0, 9, 99]
  }
  for (const [name, bytes] of Object.entries(cases)) add('options', `${name}.bin`, Buffer.from(bytes))
}

// Queue entries as node-resque writes them, for the resque payload target.
function resqueSeeds () {
  const entries = [
    { class: 'resize', queue: 'images', args: [{ input: { path: '/srv/in/a.jpg' }, output: { path: '/srv/out/a.webp' }, width: 320, format: 'webp' }] },
    { class: 'resize', queue: 'images', args: [{ input: { key: 'img:1' }, output: { key: 'img:1:thumb', ttl: 3600 }, width: 64, height: 64, fit: 'contain', background: '#ff000080', position: 'left top', kernel: 'mitchell', quality: 70, withoutEnlargement: true, autoOrient: false, limitInputPixels: 1000000 }] },
    { class: 'resize', queue: 'images', args: [{ input: { base64: '/9j/4AAQSkZJRgABAQ==' }, output: { key: 'k' }, background: { r: 1, g: 2, b: 3, alpha: 0.5 }, limitInputPixels: false }] },
    { class: 'metadata', queue: 'q', args: [{ input: { key: 'img:2' } }] },
    { class: 'hash', queue: 'q', args: [{ input: { base64: 'aGVsbG8=' }, algorithm: 'blake3', output: { key: 'h', ttl: 5 } }] },
    { class: 'hash', queue: 'q', args: [] },
    { class: 'SomeRubyJob', queue: 'q', args: [1, 'two', { three: [3] }, null] },
    { class: 'resize', args: { input: { path: '../../etc/passwd' } } }
  ]
  entries.forEach((e, i) => add('resque', `entry-${i}.json`, Buffer.from(JSON.stringify(e))))
  add('resque', 'not-an-object.json', Buffer.from('[1,2,3]'))
  add('resque', 'deep.json', Buffer.from('{"class":"x","args":[' + '['.repeat(100) + ']'.repeat(100) + ']}'))
}

function add (format, name, bytes) {
  if (bytes.length <= MAX_SEED_BYTES) seeds[format].push([name, bytes])
}

async function variants () {
  let sharp
  try {
    sharp = require('sharp')
  } catch {
    console.error('fuzz-seeds: sharp is not installed; seeding from the fixtures only')
    return
  }
  const photo = path.join(fixtures, '320x240.jpg')
  const alpha = path.join(fixtures, '5_webp_a.webp')
  if (!fs.existsSync(photo) || !fs.existsSync(alpha)) return
  const base = (file, w, h) => sharp(file).resize(w, h, { fit: 'fill' })
  const small = [[16, 12], [33, 17], [64, 48]]
  for (const [w, h] of small) {
    const tag = `${w}x${h}`
    add('jpeg', `baseline-${tag}.jpg`, await base(photo, w, h).jpeg({ quality: 50 }).toBuffer())
    add('jpeg', `progressive-${tag}.jpg`, await base(photo, w, h).jpeg({ progressive: true, quality: 70 }).toBuffer())
    add('jpeg', `grey-${tag}.jpg`, await base(photo, w, h).greyscale().jpeg().toBuffer())
    add('jpeg', `420-${tag}.jpg`, await base(photo, w, h).jpeg({ chromaSubsampling: '4:2:0', optimiseCoding: false }).toBuffer())
    add('jpeg', `444-${tag}.jpg`, await base(photo, w, h).jpeg({ chromaSubsampling: '4:4:4', trellisQuantisation: true }).toBuffer())
    add('jpeg', `cmyk-${tag}.jpg`, await base(photo, w, h).toColourspace('cmyk').jpeg().toBuffer())
    add('png', `rgb-${tag}.png`, await base(photo, w, h).png().toBuffer())
    add('png', `rgba-${tag}.png`, await base(alpha, w, h).png().toBuffer())
    add('png', `palette-${tag}.png`, await base(alpha, w, h).png({ palette: true, colours: 16 }).toBuffer())
    add('png', `interlaced-${tag}.png`, await base(photo, w, h).png({ progressive: true }).toBuffer())
    add('png', `grey16-${tag}.png`, await base(photo, w, h).greyscale().toColourspace('grey16').png().toBuffer())
    add('png', `grey-${tag}.png`, await base(photo, w, h).greyscale().png({ compressionLevel: 0 }).toBuffer())
    add('webp', `lossy-${tag}.webp`, await base(photo, w, h).webp({ quality: 50 }).toBuffer())
    add('webp', `lossy-alpha-${tag}.webp`, await base(alpha, w, h).webp({ quality: 50 }).toBuffer())
    add('webp', `lossless-${tag}.webp`, await base(alpha, w, h).webp({ lossless: true }).toBuffer())
    add('gif', `still-${tag}.gif`, await base(alpha, w, h).gif().toBuffer())
    add('gif', `interlaced-${tag}.gif`, await base(photo, w, h).gif({ interlace: true, colours: 8, dither: 0 }).toBuffer())
    add('avif', `still-${tag}.avif`, await base(photo, w, h).avif({ quality: 40 }).toBuffer())
    add('avif', `alpha-${tag}.avif`, await base(alpha, w, h).avif({ quality: 40 }).toBuffer())
    add('avif', `420-${tag}.avif`, await base(photo, w, h).avif({ quality: 40, chromaSubsampling: '4:2:0' }).toBuffer())
    add('avif', `10bit-${tag}.avif`, await base(alpha, w, h).avif({ quality: 40, bitdepth: 10 }).toBuffer())
    add('avif', `12bit-420-${tag}.avif`, await base(photo, w, h).avif({ quality: 40, bitdepth: 12, chromaSubsampling: '4:2:0' }).toBuffer())
  }
  for (let o = 2; o <= 8; o++) {
    add('jpeg', `orientation-${o}.jpg`, await base(photo, 24, 16).withMetadata({ orientation: o }).jpeg().toBuffer())
    add('png', `orientation-${o}.png`, await base(photo, 24, 16).withMetadata({ orientation: o }).png().toBuffer())
    add('webp', `orientation-${o}.webp`, await base(photo, 24, 16).withMetadata({ orientation: o }).webp().toBuffer())
  }
  // Animated files built by hand from tiny stills: three frames each.
  const still = await base(photo, 16, 12)
  add('gif', 'animated-3.gif', animatedGif(await still.clone().gif().toBuffer(), 3))
  add('webp', 'animated-3.webp', animatedWebp(await still.clone().webp({ quality: 40 }).toBuffer(), 16, 12))
  add('webp', 'animated-3-lossless.webp', animatedWebp(await still.clone().webp({ lossless: true }).toBuffer(), 16, 12))
  // Animations as sharp (libvips: cgif, libwebp's WebPAnimEncoder) writes
  // them, frames of their own (sub-rectangles, disposal, blending), for the
  // animated targets only: four 16x12 frames panning across the photo.
  const pan = await Promise.all([0, 1, 2, 3].map((i) => sharp(photo).resize(48, 36).extract({ left: i * 8, top: i * 6, width: 16, height: 12 }).ensureAlpha().raw().toBuffer()))
  const roll = () => sharp(Buffer.concat(pan), { raw: { width: 16, height: 48, channels: 4, pageHeight: 12 } })
  add('animated-gif', 'sharp-pan.gif', await roll().gif({ delay: [50, 0, 120, 30], loop: 3 }).toBuffer())
  add('animated-gif', 'sharp-pan-8.gif', await roll().gif({ colours: 8, dither: 0, loop: 0 }).toBuffer())
  add('animated-webp', 'sharp-pan.webp', await roll().webp({ quality: 40, delay: [50, 0, 120, 30], loop: 3 }).toBuffer())
  add('animated-webp', 'sharp-pan-lossless.webp', await roll().webp({ lossless: true }).toBuffer())
}

/** Repeats a still GIF's frame (graphic control extension, descriptor, data) `frames` times, with a looping extension. */
function animatedGif (gif, frames) {
  const gce = gif.indexOf(Buffer.from([0x21, 0xf9, 0x04]))
  const start = gce > 0 ? gce : gif.indexOf(0x2c, 13)
  const loop = Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0'), 0x03, 0x01, 0x00, 0x00, 0x00])
  const frame = gif.subarray(start, gif.length - 1)
  return Buffer.concat([gif.subarray(0, start), loop, ...new Array(frames).fill(frame), Buffer.from([0x3b])])
}

function riffChunk (fourcc, data) {
  const head = Buffer.alloc(8)
  head.write(fourcc, 0, 'latin1')
  head.writeUInt32LE(data.length, 4)
  return Buffer.concat([head, data, Buffer.alloc(data.length % 2)])
}

const u24 = (v) => [v & 255, (v >> 8) & 255, (v >> 16) & 255]

/** An animated (VP8X + ANIM + ANMF) WebP: the still's bitstream as three frames on a canvas twice its size. */
function animatedWebp (still, w, h) {
  const size = still.readUInt32LE(16)
  const bitstream = still.subarray(12, 20 + size + (size % 2))
  const frames = [[0, 0, 0], [w / 2, 0, 1], [w / 2, h / 2, 2]].map(([x, y, flags]) => riffChunk('ANMF', Buffer.concat([
    Buffer.from([...u24(x / 2), ...u24(y / 2), ...u24(w - 1), ...u24(h - 1), ...u24(80), flags]), bitstream
  ])))
  const vp8x = Buffer.from([0x12, 0, 0, 0, ...u24(2 * w - 1), ...u24(2 * h - 1)])
  const body = Buffer.concat([Buffer.from('WEBP'), riffChunk('VP8X', vp8x), riffChunk('ANIM', Buffer.from([0, 0, 0, 0, 0, 0])), ...frames])
  const head = Buffer.alloc(8)
  head.write('RIFF', 0, 'latin1')
  head.writeUInt32LE(body.length, 4)
  return Buffer.concat([head, body])
}

async function main () {
  if (fs.existsSync(fixtures)) {
    for (const name of fs.readdirSync(fixtures).sort()) {
      for (const [format, re] of Object.entries(FORMATS)) {
        if (re.test(name)) add(format, name, fs.readFileSync(path.join(fixtures, name)))
      }
    }
  } else {
    console.error(`fuzz-seeds: no fixtures at ${fixtures}`)
  }
  await variants()
  compositeSeeds()
  resqueSeeds()
  optionsSeeds()
  for (const [target, formats] of Object.entries(TARGETS)) {
    const dir = path.join(out, target)
    fs.mkdirSync(dir, { recursive: true })
    let n = 0
    for (const format of formats) {
      for (const [name, bytes] of seeds[format]) {
        if (bytes.length === 0) continue
        fs.writeFileSync(path.join(dir, name), bytes)
        n++
      }
    }
    console.log(`fuzz-seeds: ${n} seeds in ${path.relative(root, dir)}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
