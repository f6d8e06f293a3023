'use strict'

// How much CPU other processes took while we measured: the whole machine's
// busy time from /proc/stat minus this process's own CPU time. The load
// average cannot answer that, since the benchmark's own threads count in it.
// Linux only; elsewhere `stop()` returns null.

const fs = require('node:fs')
const { performance } = require('node:perf_hooks')

const USER_HZ = 100 // clock ticks per second in /proc/stat on every mainstream Linux

function machineBusyMs () {
  let line
  try {
    line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
  } catch {
    return null
  }
  // cpu  user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number)
  return ((user + nice + system + irq + softirq + steal) * 1000) / USER_HZ
}

/** Starts a window; `stop()` gives { otherCores }: CPU cores' worth used by other processes. */
function startContention () {
  const busy0 = machineBusyMs()
  const own0 = process.cpuUsage()
  const t0 = performance.now()
  return {
    stop () {
      const busy1 = machineBusyMs()
      if (busy0 === null || busy1 === null) return null
      const own = process.cpuUsage(own0)
      const ownMs = (own.user + own.system) / 1000
      const elapsedMs = performance.now() - t0
      return { otherCores: Math.max(0, (busy1 - busy0 - ownMs) / elapsedMs) }
    }
  }
}

module.exports = { startContention }
