'use strict'

// CPU time of the JS (main) thread alone, on Linux. Unlike ELU it does not
// count time the thread spent runnable but preempted by other threads or
// processes; that time is reported apart, as `waitMs`.
//
// /proc/<pid>/task/<tid>/schedstat gives both in nanoseconds; where the kernel
// lacks it, /proc/.../stat gives CPU time in clock ticks (10 ms) and no wait.

const fs = require('node:fs')

const USER_HZ = 100

/** { cpuMs, waitMs } of the main thread so far; NaN where /proc cannot tell. */
function mainThreadTimes () {
  const task = `/proc/self/task/${process.pid}`
  try {
    const [run, wait] = fs.readFileSync(`${task}/schedstat`, 'utf8').trim().split(' ').map(Number)
    // A kernel without sched_info prints zeros here: use stat then.
    if (run > 0 && Number.isFinite(wait)) return { cpuMs: run / 1e6, waitMs: wait / 1e6 }
  } catch {}
  try {
    const fields = fs.readFileSync(`${task}/stat`, 'utf8').split(') ')[1].split(' ')
    return { cpuMs: (Number(fields[11]) + Number(fields[12])) * (1000 / USER_HZ), waitMs: NaN }
  } catch {
    return { cpuMs: NaN, waitMs: NaN }
  }
}

/**
 * CPU time (user + system) of a whole process so far, in ms, from
 * /proc/<pid>/stat (10 ms ticks, summed over its threads); NaN where /proc
 * cannot tell.
 */
function processCpuMs (pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * (1000 / USER_HZ)
  } catch {
    return NaN
  }
}

/** CPU time of the main thread so far, in ms. */
function mainThreadCpuMs () {
  return mainThreadTimes().cpuMs
}

module.exports = { mainThreadTimes, mainThreadCpuMs, processCpuMs }
