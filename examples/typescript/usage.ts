// Every exported function and class of rusque, used the way an app would, so
// `tsc --noEmit -p examples/typescript` checks index.d.ts against real code.
// The expect-error lines in mistakes() prove the types reject what the runtime rejects.
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import {
  resize, metadata, hash, configure, poolInfo, prometheus, buildInfo, JobQueue, RusqueError, AbortError,
  Worker, MultiWorker, native, remote, remoteJobs, type NativeJobArgs, type Remote,
  type Metadata, type PoolConfig, type PoolInfo, type BuildInfo, type ResizeOptions, type QueueStats, type JobInfo, type RusqueErrorCode
} from 'rusque'

async function main (file: string): Promise<void> {
  const input: Buffer = await readFile(file)

  const pool: PoolConfig = configure({ threads: 2, nice: 10, memoryBudget: 512 * 1024 * 1024 })
  const same: PoolInfo = poolInfo()
  console.log(`pool: ${pool.threads} threads at nice ${same.nice}, ${same.tasks.resize.completed} resizes, p99 ${same.runTime.p99} ms, ${same.memory.reserved} bytes reserved`)
  const build: BuildInfo = buildInfo()
  console.log(`build: ${build.target}, JPEG SIMD ${build.simd.jpeg ? 'on' : 'off'}`)

  const options: ResizeOptions = { width: 320, height: 240, fit: 'cover', position: 'north', format: 'webp', quality: 75, background: '#ffffff' }
  const thumb: Buffer = await resize(input, options)
  const contained = await resize(new Uint8Array(input), { width: 100, fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 0.5 }, format: 'png' })
  const meta: Metadata = await metadata(thumb)
  const digest: string = await hash(thumb, 'blake3')
  const digest2: string = await hash(contained, { algorithm: 'sha512' })
  console.log(`${meta.format} ${meta.width}x${meta.height}, blake3 ${digest.slice(0, 12)}, sha512 ${digest2.slice(0, 12)}`)

  // Cancellation: an aborted signal rejects with AbortError.
  const controller = new AbortController()
  controller.abort()
  try {
    await resize(input, { width: 64, signal: controller.signal })
  } catch (err) {
    if (err instanceof AbortError) console.log(`aborted: ${err.code}`)
  }

  // Coded errors.
  try {
    await metadata(Buffer.from('not an image'))
  } catch (err) {
    if (err instanceof RusqueError) {
      const code: RusqueErrorCode = err.code
      console.log(`rejected: ${code}`)
    }
  }
  const made = new RusqueError('ERR_INVALID_ARG', 'made by hand')
  console.log(made.name)

  // The in-process queue: priorities, back-pressure, events, stats.
  const queue = new JobQueue({ concurrency: 2, maxQueued: 100 })
  queue.on('completed', (job: JobInfo) => { console.log(`done ${job.task} ${job.id ?? ''}`) })
  queue.on('failed', (job, error) => { console.log(`failed ${job.task}: ${error.message}`) })
  queue.once('idle', () => { console.log('idle') })
  const small: Buffer = await queue.add('resize', input, { width: 64 }, { priority: 1, timeout: 10000, id: 'small' })
  const info: Metadata = await queue.add('metadata', small)
  const sum: string = await queue.add('hash', small, 'md5')
  const bulk = await queue.addBulk([
    { task: 'hash', input: small, options: 'sha256' },
    ['resize', input, { width: 32 }, { priority: 2 }]
  ])
  queue.pause()
  const paused: boolean = queue.isPaused
  queue.resume()
  await queue.onIdle()
  const stats: QueueStats = queue.stats()
  const exposition: string = prometheus({ queues: { main: queue } })
  console.log(exposition.length, stats.runTime.max)
  console.log(info.width, sum.length, bulk.length, paused, queue.size, queue.running, queue.concurrency, queue.maxQueued, stats.completed, stats.waitTime.p99)
  await queue.close({ drain: true })
  console.log(`closed: ${queue.isClosed}`)

  // `await using`: the queue is closed (drained) when the block ends.
  let scoped: JobQueue
  {
    await using q = new JobQueue({ concurrency: 1 })
    scoped = q
    await q.add('hash', small, 'sha256')
  }
  console.log(`disposed: ${scoped.isClosed}`)

  // Workers on Redis: constructed here, started only where a Redis server runs.
  const jobs = {
    thumbnail: native('resize', { width: 320, format: 'webp' }),
    checksum: native('hash', 'sha256'),
    hello: async (who: string) => `hello ${who}`
  }
  // Roots must exist (checked here, at construction): the image's directory.
  const worker = new Worker({
    connection: { host: '127.0.0.1', port: 6379, namespace: 'resque' },
    queues: ['images'],
    concurrency: 4,
    roots: [dirname(resolve(file))],
    keys: { prefix: ['uploads:', 'thumbs:'] }
  }, jobs)
  worker.on('success', (q: string, job, result: unknown, duration: number) => { console.log(q, job.class, result, duration) })
  worker.on('failure', (q, job, failure) => { console.log(q, failure.code) })
  const multi = new MultiWorker({ connection: { host: '127.0.0.1' }, queues: ['images'], maxTaskProcessors: 4 }, jobs)
  multi.on('job', (workerId: number, q: string) => { console.log(workerId, q) })
  const args: NativeJobArgs = { input: { key: 'uploads:1' }, output: { key: 'thumbs:1', ttl: 3600 }, width: 200 }
  console.log(worker.name.length > 0, typeof multi.start, args.input)

  // Remote calls: the web server's side (connects on its first call) and a fleet Worker's jobs.
  const fleet: Remote = remote({ connection: { host: '127.0.0.1', port: 6379 }, queue: 'rusque', timeout: 10000, spill: true })
  const served = new Worker({ connection: { host: '127.0.0.1' }, queues: ['rusque'], concurrency: 4 }, remoteJobs())
  console.log(typeof fleet.resize, typeof served.start, Object.keys(remoteJobs()).join(','))
  await fleet.close()
}

// Never called: mistakes the type checker must reject (an unused
// expect-error directive is itself an error, so a loose index.d.ts fails the check).
async function mistakes (input: Buffer, queue: JobQueue): Promise<void> {
  // @ts-expect-error width is a number
  void resize(input, { width: '320' })
  // @ts-expect-error no such format
  void resize(input, { format: 'tiff' })
  // @ts-expect-error no such task
  void queue.add('rotate', input)
  // @ts-expect-error no such algorithm
  void hash(input, 'crc32')
  // @ts-expect-error resize resolves to a Buffer, not Metadata
  const wrong: Metadata = await resize(input, { width: 10 })
  void wrong
  // @ts-expect-error a remote call's timeout is a number of milliseconds
  void remote().resize(input, { width: 10, timeout: '5s' })
}
void mistakes

main(process.argv[2] ?? 'image.jpg').catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
