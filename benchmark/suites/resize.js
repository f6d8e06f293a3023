'use strict'

// sharp's own benchmark case: a 2725x2225 JPEG resized to 720x588 and encoded
// as JPEG at quality 80, buffer to buffer. rusque and sharp run in alternating
// rounds (rusque, sharp, rusque, ...) so drift in machine load hits both;
// every figure is a median over rounds. jimp runs a few calls for scale.

const os = require('node:os')
const { performance } = require('node:perf_hooks')

const { REPO_ROOT } = require('../lib/machine')
const { readFixture, fixturesDir } = require('../lib/fixtures')
const { startLoopProbe, probeWithWakeups, INTERVAL_MS } = require('../lib/loop-probe')
const { startContention } = require('../lib/contention')
const { resizeLanczos3, psnr } = require('../lib/lanczos')
const { median, percentile, max, min } = require('../lib/stats')
const { measureStages, stageRows } = require('../lib/stages')
const { mainThreadTimes } = require('../lib/thread-cpu')

const IMAGE = '2569067123_aca715a2ee_o.jpg'
const SOURCE = { width: 2725, height: 2225 }
const WIDTH = 720
const HEIGHT = 588
const QUALITY = 80
const RUSQUE_OPTIONS = { width: WIDTH, height: HEIGHT, format: 'jpeg', quality: QUALITY }

const PLANS = {
  full: {
    warmupCalls: 4,
    idleProbeMs: 1000,
    floorProbeMs: 3000, // per library: the probe alone, woken as often as that library's completions
    concurrency: 8, // calls in flight: 4x the cores here, enough to keep every pool thread busy
    throughputRounds: 9,
    imagesPerRound: 64,
    latencyRounds: 9,
    callsPerLatencyRound: 12,
    jimpCalls: 3
  },
  quick: {
    warmupCalls: 2,
    idleProbeMs: 300,
    floorProbeMs: 1000,
    concurrency: 8,
    throughputRounds: 2,
    imagesPerRound: 16,
    latencyRounds: 2,
    callsPerLatencyRound: 3,
    jimpCalls: 1
  }
}

const LIBS = ['rusque', 'sharp']

const description = `${SOURCE.width}x${SOURCE.height} JPEG -> ${WIDTH}x${HEIGHT} JPEG q${QUALITY}, buffer to buffer: rusque vs sharp (alternating rounds), jimp for scale`

async function run ({ log, args = [] }) {
  const plan = args.includes('--quick') ? PLANS.quick : PLANS.full
  const sharp = require('sharp')
  const rusque = require(REPO_ROOT)
  const { Jimp } = require('jimp')

  // libvips' operation cache could serve repeated identical work from memory;
  // sharp's own benchmark turns it off for the same reason. Threads stay at
  // each library's defaults.
  sharp.cache(false)

  const input = readFixture(IMAGE)
  const inputMeta = await sharp(input).metadata()
  if (inputMeta.width !== SOURCE.width || inputMeta.height !== SOURCE.height || inputMeta.format !== 'jpeg') {
    throw new Error(`${IMAGE} should be a ${SOURCE.width}x${SOURCE.height} JPEG, found ${inputMeta.format} ${inputMeta.width}x${inputMeta.height}`)
  }

  const calls = {
    rusque: () => rusque.resize(input, RUSQUE_OPTIONS),
    sharp: () => sharp(input).resize(WIDTH, HEIGHT).jpeg({ quality: QUALITY }).toBuffer()
  }
  // The same resize with lossless output: PSNR then measures decoding and
  // resampling alone, separating them from the JPEG encoder's settings.
  const losslessCalls = {
    rusque: () => rusque.resize(input, { width: WIDTH, height: HEIGHT, format: 'png' }),
    sharp: () => sharp(input).resize(WIDTH, HEIGHT).png({ compressionLevel: 1 }).toBuffer()
  }
  const jimpCall = async () => {
    const img = await Jimp.read(input)
    img.resize({ w: WIDTH, h: HEIGHT })
    return img.getBuffer('image/jpeg', { quality: QUALITY })
  }

  const setup = {
    image: `${fixturesDir()}/${IMAGE}`,
    inputBytes: input.length,
    plan,
    rusquePool: rusque.poolInfo(),
    sharpConcurrency: sharp.concurrency(),
    libvips: sharp.versions.vips,
    sharpSimd: sharp.simd(),
    sharpCache: false,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE || 4,
    loadAverageBefore: os.loadavg()
  }
  log(`fixture ${setup.image} (${input.length} bytes)`)
  log(`rusque pool ${setup.rusquePool.threads} threads at nice ${setup.rusquePool.nice}; sharp: libvips ${setup.libvips}, ${setup.sharpConcurrency} libvips thread(s) per image, ${setup.uvThreadpoolSize} libuv threads, cache off`)

  // Warm-up: load code paths, spawn pool threads, and check each output is
  // really a 720x588 JPEG before timing anything.
  const outputs = {}
  for (const lib of LIBS) {
    const sizes = new Set()
    for (let i = 0; i < plan.warmupCalls; i++) sizes.add((await calls[lib]()).length)
    const burst = await Promise.all(Array.from({ length: plan.concurrency }, () => calls[lib]()))
    for (const b of burst) sizes.add(b.length)
    outputs[lib] = burst[0]
    const meta = await sharp(outputs[lib]).metadata()
    if (meta.format !== 'jpeg' || meta.width !== WIDTH || meta.height !== HEIGHT) {
      throw new Error(`${lib} produced ${meta.format} ${meta.width}x${meta.height}, expected jpeg ${WIDTH}x${HEIGHT}`)
    }
    setup[`${lib}OutputSizesSeen`] = [...sizes]
  }

  // Idle baseline for the event-loop probe: what a 1 ms timer looks like here
  // with nothing else running.
  const idleGaps = await probeIdle(plan.idleProbeMs)
  const idle = { p99: percentile(idleGaps, 99), max: max(idleGaps), median: median(idleGaps) }
  log(`idle loop: ${INTERVAL_MS} ms timer gap median ${idle.median.toFixed(2)} ms, p99 ${idle.p99.toFixed(2)} ms, max ${idle.max.toFixed(2)} ms`)

  // 1 + 3. Throughput at saturation, with the event-loop probe running.
  const saturation = { rusque: [], sharp: [] }
  for (let r = 0; r < plan.throughputRounds; r++) {
    for (const lib of LIBS) {
      const contention = startContention()
      const res = await saturationRound(calls[lib], plan.imagesPerRound, plan.concurrency)
      const c = contention.stop()
      res.otherCores = c ? c.otherCores : null
      saturation[lib].push(res)
      log(`saturation ${r + 1}/${plan.throughputRounds} ${lib.padEnd(6)} ${res.imagesPerSec.toFixed(1).padStart(6)} img/s, ` +
        `CPU ${res.cpuMsPerImage.toFixed(1)} ms/img (JS thread ${res.jsCpuMsPerImage.toFixed(3)}, waiting ${res.jsWaitMsPerImage.toFixed(3)}), ` +
        `call p99 ${res.callP99.toFixed(3)} ms, loop gap p99 ${res.gapP99.toFixed(2)} ms max ${res.gapMax.toFixed(2)} ms` +
        (c ? `, other processes ${c.otherCores.toFixed(2)} cores` : ''))
    }
  }

  // The probe's floor at each library's completion rate: the same 1 ms timer
  // with the loop woken that often and no work at all.
  const floor = {}
  for (const lib of LIBS) {
    const perSecond = median(saturation[lib].map((s) => s.imagesPerSec))
    const gaps = await probeWithWakeups(perSecond, plan.floorProbeMs)
    floor[lib] = { perSecond, p99: percentile(gaps, 99), max: max(gaps) }
    log(`probe floor at ${perSecond.toFixed(1)} empty wake-ups/s (${lib}'s completions): loop gap p99 ${floor[lib].p99.toFixed(2)} ms, max ${floor[lib].max.toFixed(2)} ms`)
  }

  // 2. Single-call latency, one call at a time.
  const latency = { rusque: [], sharp: [] }
  const otherCoresDuringLatency = []
  for (let r = 0; r < plan.latencyRounds; r++) {
    for (const lib of LIBS) {
      const samples = []
      const contention = startContention()
      for (let i = 0; i < plan.callsPerLatencyRound; i++) {
        const t0 = performance.now()
        await calls[lib]()
        samples.push(performance.now() - t0)
      }
      const c = contention.stop()
      latency[lib].push(samples)
      if (c) otherCoresDuringLatency.push(c.otherCores)
      log(`latency ${r + 1}/${plan.latencyRounds} ${lib.padEnd(6)} median ${median(samples).toFixed(1)} ms` +
        (c ? `, other processes ${c.otherCores.toFixed(2)} cores` : ''))
    }
  }

  // 6. The stages alone, on one thread (the JS thread: nothing else runs now).
  const stages = await measureStages(rusque, input, RUSQUE_OPTIONS)
  log(`stages (ms): ${Object.entries(stages.stages).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; call ${stages.callMs.toFixed(3)}, delivery ${stages.deliveryMs.toFixed(3)}`)

  // 5. jimp, for scale: a few calls, each watched by the loop probe.
  const jimp = { latencies: [], gapMax: [] }
  for (let i = 0; i < plan.jimpCalls; i++) {
    const probe = startLoopProbe()
    const t0 = performance.now()
    outputs.jimp = await jimpCall()
    const ms = performance.now() - t0
    const gaps = probe.stop()
    jimp.latencies.push(ms)
    jimp.gapMax.push(max(gaps))
    log(`jimp ${i + 1}/${plan.jimpCalls}: ${ms.toFixed(0)} ms, loop gap max ${max(gaps).toFixed(0)} ms`)
  }

  // 4. Quality parity against a float Lanczos3 reference from a full decode.
  const lossless = {}
  for (const lib of LIBS) lossless[lib] = await losslessCalls[lib]()
  const quality = await measureQuality(sharp, input, outputs, lossless, log)

  const summary = summarise({ saturation, latency, jimp, quality, idle, floor })
  const r = summary.values.rusque
  summary.rows.push(...stageRows(stages, { single: r.latencyMedian, perSec: r.imagesPerSec, threads: setup.rusquePool.threads }))
  const spread = {}
  for (const lib of LIBS) {
    const ips = saturation[lib].map((s) => s.imagesPerSec)
    spread[lib] = (max(ips) - min(ips)) / median(ips)
  }
  setup.loadAverageAfter = os.loadavg()

  const notes = [
    `Event-loop gaps are the time between ticks of a ${INTERVAL_MS} ms setInterval; on this machine an idle loop shows p99 ${idle.p99.toFixed(2)} ms, max ${idle.max.toFixed(2)} ms. The "probe alone" row wakes the loop from another thread as often as each library's calls complete, with no work: libuv's millisecond loop clock alone lifts the p99 there: the floor under each library's gaps at saturation.`,
    `Throughput: ${plan.concurrency} calls in flight, ${plan.imagesPerRound} images per round, ${plan.throughputRounds} rounds per library; latency: ${plan.latencyRounds} rounds of ${plan.callsPerLatencyRound} sequential calls (median of round medians; p95 over all calls).`,
    `sharp runs with its defaults: ${setup.sharpConcurrency} libvips thread(s) per image (sharp picks 1 on glibc without jemalloc), ${setup.uvThreadpoolSize} libuv threads; libvips cache off. rusque: ${setup.rusquePool.threads} pool threads at nice ${setup.rusquePool.nice}.`,
    'Targets marked (issue) come from the issue; the others are parity with sharp.',
    'Stages: each timed alone on the JS thread (nothing else of ours running; 15 repetitions, each running every stage once in the pipeline\'s order, then the whole pipeline; medians), the same functions a call runs; "colour conversion" is the decode to RGB minus the decode left in YCbCr, and "within encode" the encode of RGB rows minus the encode of the same rows handed over in YCbCr (not added to the sum). Sum = stages + the JS-thread call + completion delivery; saturation ideal = pool threads / sum of the pool-side stages.'
  ]
  // Noise: rounds of one library disagreeing, or other processes on the CPU
  // (their share is measured from /proc/stat, not guessed from load average).
  const otherCores = [...LIBS.flatMap((lib) => saturation[lib].map((s) => s.otherCores)), ...otherCoresDuringLatency].filter((x) => x !== null)
  const contention = otherCores.length ? { median: median(otherCores), max: max(otherCores) } : null
  const noisy = LIBS.filter((lib) => spread[lib] > 0.15).length > 0 || (contention !== null && (contention.median > 0.1 || contention.max > 0.3))
  const contentionText = contention
    ? `other processes used ${contention.median.toFixed(2)} cores (median over timed rounds; max ${contention.max.toFixed(2)})`
    : 'CPU use by other processes unknown (no /proc/stat)'
  const spreadText = `throughput spread (max-min)/median: ${LIBS.map((l) => `${l} ${(spread[l] * 100).toFixed(0)}%`).join(', ')}`
  notes.push(noisy
    ? `NOISY: ${contentionText}; ${spreadText}. rusque's pool runs at nice 10, so competing processes slow it more than sharp: rerun on a quiet machine before trusting the speed rows.`
    : `Quiet run: ${contentionText}; ${spreadText}.`)

  return {
    columns: [
      { key: 'metric', title: 'metric' },
      { key: 'rusque', title: 'rusque', align: 'right' },
      { key: 'sharp', title: 'sharp', align: 'right' },
      { key: 'ratio', title: 'ratio (rusque/sharp)', align: 'right' },
      { key: 'target', title: 'target' },
      { key: 'met', title: 'met?' },
      { key: 'jimp', title: 'jimp (for scale)', align: 'right' }
    ],
    rows: summary.rows,
    notes,
    details: {
      setup,
      idle,
      floor,
      summary: summary.values,
      throughputSpread: spread,
      contention,
      noisy,
      rounds: {
        saturation,
        latency,
        jimp
      },
      quality,
      stages
    }
  }
}

function probeIdle (ms) {
  const probe = startLoopProbe()
  return new Promise((resolve) => setTimeout(() => resolve(probe.stop()), ms))
}

/** Keeps `concurrency` calls in flight until `images` calls have completed. */
async function saturationRound (call, images, concurrency) {
  const probe = startLoopProbe()
  const cpu0 = process.cpuUsage()
  const js0 = mainThreadTimes()
  const t0 = performance.now()
  let started = 0
  // The synchronous part of each call: JS-thread time no timer can interrupt.
  const callMs = []
  const lane = async () => {
    while (started < images) {
      started++
      const c0 = performance.now()
      const pending = call()
      callMs.push(performance.now() - c0)
      await pending
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  const elapsedMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const js = mainThreadTimes()
  const gaps = probe.stop()
  return {
    elapsedMs,
    imagesPerSec: (images * 1000) / elapsedMs,
    cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images,
    // The JS thread per image: its CPU time (the probe's ticks included) and
    // the time it was runnable but waited for a core (preempted by threads of
    // this process or others).
    jsCpuMsPerImage: (js.cpuMs - js0.cpuMs) / images,
    jsWaitMsPerImage: (js.waitMs - js0.waitMs) / images,
    callP50: median(callMs),
    callP99: percentile(callMs, 99),
    gapP50: median(gaps),
    gapP99: percentile(gaps, 99),
    gapMax: max(gaps),
    ticks: gaps.length
  }
}

async function measureQuality (sharp, input, outputs, lossless, log) {
  const t0 = performance.now()
  const { data, info } = await sharp(input).raw().toBuffer({ resolveWithObject: true })
  if (info.width !== SOURCE.width || info.height !== SOURCE.height || info.channels !== 3) {
    throw new Error(`full decode should be ${SOURCE.width}x${SOURCE.height} RGB, got ${info.width}x${info.height}x${info.channels}`)
  }
  const reference = resizeLanczos3(data, info.width, info.height, 3, WIDTH, HEIGHT)
  const referenceMs = performance.now() - t0
  log(`reference: full decode ${info.width}x${info.height} + float64 Lanczos3 to ${WIDTH}x${HEIGHT} in ${referenceMs.toFixed(0)} ms`)

  const result = { referenceMs, reference: `${info.width}x${info.height} -> ${WIDTH}x${HEIGHT}, separable Lanczos3, float64, gamma-encoded values` }
  const decode = async (lib, encoded) => {
    const decoded = await sharp(encoded).removeAlpha().raw().toBuffer({ resolveWithObject: true })
    if (decoded.info.width !== WIDTH || decoded.info.height !== HEIGHT || decoded.info.channels !== 3) {
      throw new Error(`${lib} output decodes to ${decoded.info.width}x${decoded.info.height}x${decoded.info.channels}`)
    }
    return decoded.data
  }
  for (const [lib, jpeg] of Object.entries(outputs)) {
    result[lib] = { psnr: psnr(reference, await decode(lib, jpeg)), bytes: jpeg.length }
    let line = `quality ${lib.padEnd(6)} JPEG PSNR ${result[lib].psnr.toFixed(2)} dB, ${jpeg.length} bytes`
    if (lossless[lib]) {
      result[lib].losslessPsnr = psnr(reference, await decode(lib, lossless[lib]))
      line += `; PNG (resampling only) PSNR ${result[lib].losslessPsnr.toFixed(2)} dB`
    }
    log(line)
  }
  return result
}

// Rows carry a stable `id` for readers of the JSON; `metric` is for people.
function summarise ({ saturation, latency, jimp, quality, idle, floor }) {
  const pick = (lib, key) => median(saturation[lib].map((s) => s[key]))
  const v = {}
  for (const lib of LIBS) {
    v[lib] = {
      imagesPerSec: pick(lib, 'imagesPerSec'),
      cpuMsPerImage: pick(lib, 'cpuMsPerImage'),
      jsCpuMsPerImage: pick(lib, 'jsCpuMsPerImage'),
      jsWaitMsPerImage: pick(lib, 'jsWaitMsPerImage'),
      callP50: pick(lib, 'callP50'),
      callP99: pick(lib, 'callP99'),
      gapP50: pick(lib, 'gapP50'),
      gapP99: pick(lib, 'gapP99'),
      gapMax: pick(lib, 'gapMax'),
      gapMaxWorst: max(saturation[lib].map((s) => s.gapMax)),
      gapP99Floor: floor[lib].p99,
      latencyMedian: median(latency[lib].map(median)),
      latencyP95: percentile(latency[lib].flat(), 95),
      psnr: quality[lib].psnr,
      losslessPsnr: quality[lib].losslessPsnr,
      bytes: quality[lib].bytes
    }
  }
  v.jimp = {
    latencyMedian: median(jimp.latencies),
    gapMax: median(jimp.gapMax),
    psnr: quality.jimp ? quality.jimp.psnr : undefined,
    bytes: quality.jimp ? quality.jimp.bytes : undefined
  }
  v.idle = idle

  const r = v.rusque
  const s = v.sharp
  const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? undefined : x.toFixed(d))
  const ratio = (a, b) => `${(a / b).toFixed(2)}x`
  const pair = (a, b) => `${fmt(a, 3) ?? '—'} / ${fmt(b, 3) ?? '—'}`
  const yes = (ok) => (ok ? 'yes' : 'NO')

  const rows = [
    {
      id: 'throughput',
      metric: 'throughput at saturation (images/s, higher is better)',
      rusque: fmt(r.imagesPerSec),
      sharp: fmt(s.imagesPerSec),
      ratio: ratio(r.imagesPerSec, s.imagesPerSec),
      target: '>= 1.00x',
      met: yes(r.imagesPerSec >= s.imagesPerSec)
    },
    {
      id: 'cpuPerImage',
      metric: 'CPU time per image at saturation (ms, all threads)',
      rusque: fmt(r.cpuMsPerImage),
      sharp: fmt(s.cpuMsPerImage),
      ratio: ratio(r.cpuMsPerImage, s.cpuMsPerImage)
    },
    {
      id: 'latencyMedian',
      metric: 'single-call latency, median (ms)',
      rusque: fmt(r.latencyMedian),
      sharp: fmt(s.latencyMedian),
      ratio: ratio(r.latencyMedian, s.latencyMedian),
      target: '<= 1.00x',
      met: yes(r.latencyMedian <= s.latencyMedian),
      jimp: fmt(v.jimp.latencyMedian, 0)
    },
    {
      id: 'latencyP95',
      metric: 'single-call latency, p95 (ms)',
      rusque: fmt(r.latencyP95),
      sharp: fmt(s.latencyP95),
      ratio: ratio(r.latencyP95, s.latencyP95)
    },
    {
      id: 'loopGapP50',
      metric: 'event-loop gap p50 at saturation (ms)',
      rusque: fmt(r.gapP50, 2),
      sharp: fmt(s.gapP50, 2),
      ratio: ratio(r.gapP50, s.gapP50)
    },
    {
      id: 'loopGapP99',
      metric: 'event-loop gap p99 at saturation (ms)',
      rusque: fmt(r.gapP99, 2),
      sharp: fmt(s.gapP99, 2),
      ratio: ratio(r.gapP99, s.gapP99),
      target: '<= sharp',
      met: yes(r.gapP99 <= s.gapP99)
    },
    {
      id: 'loopGapP99Floor',
      metric: 'event-loop gap p99, the probe alone woken at the same rate, no work (ms)',
      rusque: fmt(r.gapP99Floor, 2),
      sharp: fmt(s.gapP99Floor, 2),
      ratio: ratio(r.gapP99Floor, s.gapP99Floor)
    },
    {
      id: 'jsThreadPerImage',
      metric: 'JS thread per image at saturation: CPU / waiting for a core (ms)',
      rusque: pair(r.jsCpuMsPerImage, r.jsWaitMsPerImage),
      sharp: pair(s.jsCpuMsPerImage, s.jsWaitMsPerImage),
      ratio: ratio(r.jsCpuMsPerImage, s.jsCpuMsPerImage)
    },
    {
      id: 'callSync',
      metric: 'synchronous part of a call at saturation, p50 / p99 (ms)',
      rusque: pair(r.callP50, r.callP99),
      sharp: pair(s.callP50, s.callP99),
      ratio: ratio(r.callP99, s.callP99)
    },
    {
      id: 'loopGapMax',
      metric: 'event-loop gap max at saturation (ms)',
      rusque: fmt(r.gapMax, 2),
      sharp: fmt(s.gapMax, 2),
      ratio: ratio(r.gapMax, s.gapMax),
      target: '<= sharp',
      met: yes(r.gapMax <= s.gapMax),
      jimp: v.jimp.gapMax === undefined ? undefined : `${fmt(v.jimp.gapMax, 0)} (one call)`
    },
    {
      id: 'psnr',
      metric: 'PSNR vs float Lanczos3 reference (dB, RGB)',
      rusque: fmt(r.psnr, 2),
      sharp: fmt(s.psnr, 2),
      ratio: `${r.psnr - s.psnr >= 0 ? '+' : ''}${(r.psnr - s.psnr).toFixed(2)} dB`,
      target: '>= sharp - 0.5 dB (issue)',
      met: yes(r.psnr >= s.psnr - 0.5),
      jimp: fmt(v.jimp.psnr, 2)
    },
    {
      id: 'psnrLossless',
      metric: 'PSNR with PNG output: decode + resample only (dB)',
      rusque: fmt(r.losslessPsnr, 2),
      sharp: fmt(s.losslessPsnr, 2),
      ratio: `${r.losslessPsnr - s.losslessPsnr >= 0 ? '+' : ''}${(r.losslessPsnr - s.losslessPsnr).toFixed(2)} dB`
    },
    {
      id: 'bytes',
      metric: 'output size (bytes)',
      rusque: String(r.bytes),
      sharp: String(s.bytes),
      ratio: ratio(r.bytes, s.bytes),
      target: '<= 1.10x (issue)',
      met: yes(r.bytes <= 1.1 * s.bytes),
      jimp: v.jimp.bytes === undefined ? undefined : String(v.jimp.bytes)
    }
  ]
  return { rows, values: v }
}

module.exports = { description, run }
