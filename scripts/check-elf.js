#!/usr/bin/env node
'use strict'

// Reads a prebuilt `.node` file's ELF headers and says which CPU and which C
// library it was built for, so a cross build that silently produced the wrong
// thing (host arch, glibc instead of musl, unstripped) fails before it ships.
//
//   node scripts/check-elf.js FILE...            prints one JSON line per file
//   node scripts/check-elf.js --expect FILE...   also checks each file against
//                                                the platform in its name
//                                                (rusque.<platform>.node) and
//                                                the size limit; exits 1 on a
//                                                mismatch
//
// No readelf needed: the few structures involved are parsed here.

const fs = require('node:fs')
const path = require('node:path')

const EM = { 3: 'ia32', 40: 'arm', 62: 'x64', 183: 'arm64', 243: 'riscv64', 21: 'ppc64', 22: 's390x' }

const PT_LOAD = 1
const PT_DYNAMIC = 2
const PT_INTERP = 3
const DT_NULL = 0
const DT_NEEDED = 1
const DT_STRTAB = 5
const DT_STRSZ = 10
const DT_SONAME = 14
const DT_VERNEED = 0x6ffffffe
const DT_VERNEEDNUM = 0x6fffffff
const SHT_SYMTAB = 2

/**
 * The size budget of one stripped addon. It was 10 MiB until AVIF input
 * (libaom's decoder, about 2.2 MB), animated GIF/WebP output (libwebp's mux
 * and a GIF encoder) and the pipelined JPEG resize came in together and took
 * the x64 glibc addon to about 12.1 MiB; what of the last one's growth is
 * needed is not known yet. sharp's libvips for the same platform is larger.
 */
const MAX_BYTES = 14 * 1024 * 1024

/** What each prebuilt platform must be. Sizes are for the stripped file. */
const EXPECTED = {
  'linux-x64-gnu': { arch: 'x64', libc: 'glibc', maxBytes: MAX_BYTES },
  'linux-x64-musl': { arch: 'x64', libc: 'musl', maxBytes: MAX_BYTES },
  'linux-arm64-gnu': { arch: 'arm64', libc: 'glibc', maxBytes: MAX_BYTES },
  'linux-arm64-musl': { arch: 'arm64', libc: 'musl', maxBytes: MAX_BYTES }
}

function parseElf (buf) {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file')
  const is64 = buf[4] === 2
  const le = buf[5] === 1
  const u16 = (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o))
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))
  const word = (o) => (is64 ? Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o)) : u32(o))
  const wsize = is64 ? 8 : 4

  const eType = u16(16)
  const eMachine = u16(18)
  const phoff = word(is64 ? 32 : 28)
  const shoff = word(is64 ? 40 : 32)
  const phentsize = u16(is64 ? 54 : 42)
  const phnum = u16(is64 ? 56 : 44)
  const shentsize = u16(is64 ? 58 : 46)
  const shnum = u16(is64 ? 60 : 48)

  const segments = []
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize
    segments.push(is64
      ? { type: u32(o), offset: word(o + 8), vaddr: word(o + 16), filesz: word(o + 32) }
      : { type: u32(o), offset: u32(o + 4), vaddr: u32(o + 8), filesz: u32(o + 16) })
  }
  // Dynamic entries hold virtual addresses; map them back through PT_LOAD.
  const fileOffset = (vaddr) => {
    for (const s of segments) {
      if (s.type === PT_LOAD && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return vaddr - s.vaddr + s.offset
    }
    throw new Error(`address 0x${vaddr.toString(16)} is in no loaded segment`)
  }
  const cstr = (o) => {
    const end = buf.indexOf(0, o)
    return buf.toString('latin1', o, end < 0 ? buf.length : end)
  }

  let interp = null
  const interpSeg = segments.find((s) => s.type === PT_INTERP)
  if (interpSeg) interp = cstr(interpSeg.offset)

  const needed = []
  const versions = []
  let soname = null
  const dynSeg = segments.find((s) => s.type === PT_DYNAMIC)
  if (dynSeg) {
    const entries = []
    let strtab = 0
    let verneed = 0
    let verneednum = 0
    for (let o = dynSeg.offset; o + 2 * wsize <= dynSeg.offset + dynSeg.filesz; o += 2 * wsize) {
      const tag = word(o)
      const val = word(o + wsize)
      if (tag === DT_NULL) break
      if (tag === DT_STRTAB) strtab = fileOffset(val)
      else if (tag === DT_VERNEED) verneed = fileOffset(val)
      else if (tag === DT_VERNEEDNUM) verneednum = val
      else if (tag !== DT_STRSZ) entries.push([tag, val])
    }
    for (const [tag, val] of entries) {
      if (tag === DT_NEEDED) needed.push(cstr(strtab + val))
      else if (tag === DT_SONAME) soname = cstr(strtab + val)
    }
    // Elf_Verneed / Elf_Vernaux have the same layout in both classes.
    let vn = verneed
    for (let i = 0; verneed && i < verneednum; i++) {
      const file = cstr(strtab + u32(vn + 4))
      let aux = vn + u32(vn + 8)
      for (let j = 0, cnt = u16(vn + 2); j < cnt; j++) {
        versions.push({ file, name: cstr(strtab + u32(aux + 8)) })
        const next = u32(aux + 12)
        if (next === 0) break
        aux += next
      }
      const next = u32(vn + 12)
      if (next === 0) break
      vn += next
    }
  }

  let hasSymtab = false
  for (let i = 0; shoff && i < shnum; i++) {
    if (u32(shoff + i * shentsize + 4) === SHT_SYMTAB) hasSymtab = true
  }

  return { is64, le, eType, eMachine, interp, needed, soname, versions, hasSymtab }
}

function compareVersions (a, b) {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0)
    if (d !== 0) return d
  }
  return 0
}

/** Summarises a file: arch, libc (from NEEDED, symbol versions and PT_INTERP), size, stripped. */
function inspect (file) {
  const buf = fs.readFileSync(file)
  const elf = parseElf(buf)
  const glibcVersions = elf.versions
    .map((v) => /^GLIBC_(\d+(?:\.\d+)*)$/.exec(v.name))
    .filter(Boolean)
    .map((m) => m[1])
    .sort(compareVersions)
  const interp = elf.interp || ''
  const needsGlibc = elf.needed.some((n) => /^libc\.so\.6$/.test(n)) || glibcVersions.length > 0 || /ld-linux/.test(interp)
  // musl's loader answers to a bare `libc.so` (what zig links against) or to
  // its own name; glibc's libc is always libc.so.6 with GLIBC_* versions.
  const needsMusl = elf.needed.some((n) => n === 'libc.so' || /^libc\.musl-/.test(n)) || /ld-musl/.test(interp)
  let libc = 'none'
  if (needsGlibc && !needsMusl) libc = 'glibc'
  else if (needsMusl && !needsGlibc) libc = 'musl'
  else if (needsMusl && needsGlibc) libc = 'mixed'
  return {
    file: path.basename(file),
    bytes: buf.length,
    class: elf.is64 ? 'ELF64' : 'ELF32',
    type: elf.eType === 3 ? 'shared object' : elf.eType === 2 ? 'executable' : `type ${elf.eType}`,
    machine: elf.eMachine,
    arch: EM[elf.eMachine] || `unknown (${elf.eMachine})`,
    libc,
    glibcMax: glibcVersions.length ? glibcVersions[glibcVersions.length - 1] : null,
    interp: elf.interp,
    needed: elf.needed,
    stripped: !elf.hasSymtab
  }
}

/** The platform a napi-rs artifact is named for: `rusque.linux-x64-gnu.node` → 'linux-x64-gnu'. */
function platformOf (file) {
  const m = /\.([a-z0-9]+-[a-z0-9]+(?:-[a-z0-9]+)?)\.node$/.exec(path.basename(file))
  return m ? m[1] : null
}

/** Problems with a file against its platform's expectations; empty when it fits. */
function check (info, platform) {
  const want = EXPECTED[platform]
  if (!want) return [`no ELF expectations for platform ${platform}`]
  const problems = []
  if (info.type !== 'shared object') problems.push(`is a ${info.type}, not a shared object`)
  if (info.arch !== want.arch) problems.push(`arch is ${info.arch}, expected ${want.arch}`)
  if (info.libc !== want.libc) problems.push(`libc is ${info.libc}, expected ${want.libc}`)
  if (info.interp) problems.push(`has a program interpreter (${info.interp}); a .node file should not`)
  if (!info.stripped) problems.push('is not stripped (has .symtab)')
  if (info.bytes > want.maxBytes) problems.push(`is ${info.bytes} bytes, over the ${want.maxBytes} byte limit`)
  return problems
}

function main (argv) {
  const expect = argv.includes('--expect')
  const files = argv.filter((a) => a !== '--expect')
  if (files.length === 0) {
    console.error('usage: node scripts/check-elf.js [--expect] FILE.node...')
    return 2
  }
  let failed = false
  for (const file of files) {
    const info = inspect(file)
    if (expect) {
      const platform = platformOf(file)
      info.platform = platform
      info.problems = check(info, platform)
      if (info.problems.length) failed = true
    }
    console.log(JSON.stringify(info))
  }
  return failed ? 1 : 0
}

module.exports = { parseElf, inspect, check, platformOf, EXPECTED, MAX_BYTES }

if (require.main === module) process.exitCode = main(process.argv.slice(2))
