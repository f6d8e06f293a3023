'use strict'

// Workers in processes of their own (helpers/worker-child.js), for tests that
// kill a worker or block its event loop while the test process looks on.

const path = require('path')
const { spawn } = require('child_process')
const readline = require('readline')

const children = new Set()

/**
 * Starts a worker process configured by `cfg` ({ port, namespace, queue,
 * name, ... }, see worker-child.js); resolves once it has started, with
 * `lines` (what it printed) and `waitLine(prefix, ms)`.
 */
function spawnWorker (cfg) {
  const child = spawn(process.execPath, [path.join(__dirname, 'worker-child.js'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  child.lines = []
  child.waiters = []
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    child.lines.push(line)
    for (const w of child.waiters.slice()) if (w.test(line)) { child.waiters.splice(child.waiters.indexOf(w), 1); w.resolve(line) }
  })
  child.waitLine = (prefix, ms = 10000) => new Promise((resolve, reject) => {
    const hit = child.lines.find((l) => l.startsWith(prefix))
    if (hit) return resolve(hit)
    const timer = setTimeout(() => reject(new Error(`child never printed "${prefix}"`)), ms)
    child.waiters.push({ test: (l) => l.startsWith(prefix), resolve: (l) => { clearTimeout(timer); resolve(l) } })
  })
  return child.waitLine('started').then(() => child)
}

/** SIGKILLs a worker process; resolves once it has exited. */
function kill (child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', resolve)
    child.kill('SIGKILL')
  })
}

/** For after(): kills every worker process still running. */
function killAll () {
  for (const c of children) c.kill('SIGKILL')
}

module.exports = { spawnWorker, kill, killAll }
