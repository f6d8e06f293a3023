'use strict'

// buildInfo(): what the loaded binary is, and whether its JPEG codec runs
// libjpeg-turbo's SIMD code (asked of libjpeg-turbo at run time). A build from
// source on x86 without nasm used to lose SIMD silently (JPEG work ~2x
// slower); crates/core/build.rs now refuses it unless RUSQUE_ALLOW_NO_SIMD=1,
// and this test catches a binary that got through anyway.

const test = require('node:test')
const assert = require('node:assert/strict')
const { buildInfo, resize, metadata } = require('..')
const { currentPlatform, platformOfTriple } = require('../lib/load')
const { fixture } = require('./helpers/fixtures')

test('buildInfo() names the target this binary was built for', () => {
  const info = buildInfo()
  assert.equal(typeof info.target, 'string')
  assert.equal(platformOfTriple(info.target), currentPlatform(), `${info.target} is this platform's binary`)
})

test('the JPEG codec runs SIMD code on x64 and arm64', { skip: !['x64', 'arm64'].includes(process.arch) && `no libjpeg-turbo SIMD expected on ${process.arch}` }, async () => {
  const { simd } = buildInfo()
  assert.equal(simd.jpeg, true, 'libjpeg-turbo was built without SIMD: install nasm and rebuild (cargo clean -p mozjpeg-sys first if it was built without nasm)')
  // And the SIMD codec decodes and encodes correctly.
  const out = await resize(fixture('2569067123_aca715a2ee_o.jpg'), { width: 720, format: 'jpeg' })
  const m = await metadata(out)
  assert.deepEqual([m.format, m.width, m.height], ['jpeg', 720, 588])
})
