'use strict'

const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')

// The images this repository carries (fixtures/README.md says where each comes
// from); RUSQUE_FIXTURES may point at another folder holding the same names.
const dir = process.env.RUSQUE_FIXTURES ? path.resolve(process.env.RUSQUE_FIXTURES) : path.resolve(__dirname, '..', '..', 'fixtures', 'images')

function fixture (name) {
  return fs.readFileSync(path.join(dir, name))
}

/** Decodes any image to raw pixels with sharp, an independent decoder. */
async function raw (buf, channels = 3) {
  const sharp = require('sharp')
  let img = sharp(buf, { failOn: 'none' })
  if (channels === 3) img = img.removeAlpha()
  else img = img.ensureAlpha()
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, channels: info.channels }
}

/** Mean absolute difference per channel value between two same-size images. */
function meanAbsDiff (a, b) {
  if (a.data.length !== b.data.length) throw new Error(`size mismatch ${a.width}x${a.height} vs ${b.width}x${b.height}`)
  let sum = 0
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i])
  return sum / a.data.length
}

const MAGIC = {
  jpeg: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  png: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  webp: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP'
}

/** Records setInterval(1 ms) gaps until stop() is called. */
function loopProbe () {
  const gaps = []
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    gaps.push(now - last)
    last = now
  }, 1)
  return {
    stop () {
      clearInterval(timer)
      const sorted = gaps.slice().sort((x, y) => x - y)
      return {
        ticks: gaps.length,
        max: sorted.length ? sorted[sorted.length - 1] : Infinity,
        p99: sorted.length ? sorted[Math.floor(sorted.length * 0.99)] : Infinity
      }
    }
  }
}

function pngChunk (type, data) {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])) >>> 0)
  return Buffer.concat([head, data, crc])
}

/** A PNG (8-bit greyscale by default) whose header claims width x height, with the given IDAT payload. */
function png (width, height, idat, colorType = 0, depth = 8) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = depth
  ihdr[9] = colorType
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0))
  ])
}

/**
 * The start-of-frame marker of a JPEG, found by walking its segments: 0xc0
 * for baseline, 0xc2 for progressive; null if there is none.
 */
function sofMarker (jpeg) {
  let i = 2
  while (i + 4 <= jpeg.length && jpeg[i] === 0xff) {
    const marker = jpeg[i + 1]
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return marker
    i += 2 + jpeg.readUInt16BE(i + 2)
  }
  return null
}

module.exports = { dir, fixture, raw, meanAbsDiff, MAGIC, loopProbe, png, sofMarker }
