'use strict'
// Runs 1,000,000 tiny hash jobs through a JobQueue and reports RSS before and
// after (post-GC, once idle). Started with --expose-gc by suites/queue.js.
const { JobQueue } = require('../..')

async function main () {
  const total = Number(process.argv[2]) || 1000000
  const q = new JobQueue({ concurrency: 256 })
  const input = Buffer.alloc(64, 7)
  // Warm up so the pool's threads and the runtime exist before the baseline.
  await q.addBulk(Array.from({ length: 10000 }, () => ['hash', input]))
  global.gc()
  await new Promise((resolve) => setTimeout(resolve, 200))
  const before = process.memoryUsage().rss
  const chunk = 10000
  for (let done = 0; done < total; done += chunk) {
    const jobs = []
    for (let i = 0; i < chunk; i++) jobs.push(q.add('hash', input))
    await Promise.all(jobs)
  }
  await q.onIdle()
  global.gc()
  await new Promise((resolve) => setTimeout(resolve, 500))
  global.gc()
  const after = process.memoryUsage().rss
  process.stdout.write(JSON.stringify({ total, before, after, completed: q.stats().completed }) + '\n')
}
main()
