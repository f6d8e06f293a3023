'use strict'

// Small order statistics. Percentiles use the nearest-rank method, so p95 of
// 20 samples is the 19th smallest: always a value that was really observed.

function sorted (values) {
  return Float64Array.from(values).sort()
}

function percentile (values, p) {
  if (values.length === 0) return NaN
  const s = sorted(values)
  const rank = Math.ceil((p / 100) * s.length)
  return s[Math.min(s.length, Math.max(1, rank)) - 1]
}

function median (values) {
  if (values.length === 0) return NaN
  const s = sorted(values)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function max (values) {
  let m = -Infinity
  for (const v of values) if (v > m) m = v
  return m
}

function min (values) {
  let m = Infinity
  for (const v of values) if (v < m) m = v
  return m
}

module.exports = { percentile, median, max, min }
