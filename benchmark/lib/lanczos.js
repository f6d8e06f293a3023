'use strict'

// A slow, plain reference resampler: separable Lanczos3 in float64, with the
// filter widened by the scale factor when shrinking (so it also low-passes),
// pixel centres at i + 0.5, and weights renormalised where the kernel falls
// off the image edge. Works on the stored (gamma-encoded) values, as sharp
// and rusque do, so PSNR against it measures resampling and encoding error,
// not a choice of colour space.

const LOBES = 3

function lanczos (x) {
  if (x === 0) return 1
  if (x <= -LOBES || x >= LOBES) return 0
  const px = Math.PI * x
  return (LOBES * Math.sin(px) * Math.sin(px / LOBES)) / (px * px)
}

/** For each output index along one axis: the first input index and its weights. */
function contributions (inSize, outSize) {
  const scale = inSize / outSize
  const stretch = Math.max(1, scale)
  const support = LOBES * stretch
  const first = new Int32Array(outSize)
  const count = new Int32Array(outSize)
  const taps = Math.ceil(2 * support) + 2
  const weights = new Float64Array(outSize * taps)
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale
    const lo = Math.max(0, Math.floor(centre - support))
    const hi = Math.min(inSize - 1, Math.ceil(centre + support))
    let sum = 0
    for (let i = lo; i <= hi; i++) {
      const w = lanczos((i + 0.5 - centre) / stretch)
      weights[o * taps + (i - lo)] = w
      sum += w
    }
    for (let i = lo; i <= hi; i++) weights[o * taps + (i - lo)] /= sum
    first[o] = lo
    count[o] = hi - lo + 1
  }
  return { first, count, weights, taps }
}

/**
 * Resizes interleaved pixels (any typed array, `channels` per pixel) to
 * outWidth x outHeight. Returns an unrounded, unclamped Float64Array.
 */
function resizeLanczos3 (src, width, height, channels, outWidth, outHeight) {
  if (src.length !== width * height * channels) throw new Error('source length does not match its dimensions')
  const h = contributions(width, outWidth)
  const v = contributions(height, outHeight)

  // Horizontal pass: height rows of outWidth pixels.
  const mid = new Float64Array(height * outWidth * channels)
  for (let y = 0; y < height; y++) {
    const row = y * width * channels
    for (let x = 0; x < outWidth; x++) {
      const base = x * h.taps
      const start = h.first[x]
      const n = h.count[x]
      const dst = (y * outWidth + x) * channels
      for (let c = 0; c < channels; c++) {
        let acc = 0
        for (let k = 0; k < n; k++) acc += h.weights[base + k] * src[row + (start + k) * channels + c]
        mid[dst + c] = acc
      }
    }
  }

  // Vertical pass.
  const out = new Float64Array(outHeight * outWidth * channels)
  const stride = outWidth * channels
  for (let y = 0; y < outHeight; y++) {
    const base = y * v.taps
    const start = v.first[y]
    const n = v.count[y]
    const dstRow = y * stride
    for (let k = 0; k < n; k++) {
      const w = v.weights[base + k]
      const srcRow = (start + k) * stride
      for (let i = 0; i < stride; i++) out[dstRow + i] += w * mid[srcRow + i]
    }
  }
  return out
}

/** PSNR in dB of 8-bit samples against a float reference, clamped to 0..255. */
function psnr (reference, actual) {
  if (reference.length !== actual.length) throw new Error(`PSNR needs equal lengths, got ${reference.length} and ${actual.length}`)
  let sse = 0
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i] < 0 ? 0 : reference[i] > 255 ? 255 : reference[i]
    const d = r - actual[i]
    sse += d * d
  }
  const mse = sse / reference.length
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse)
}

module.exports = { resizeLanczos3, psnr, lanczos }
