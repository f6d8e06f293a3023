'use strict'

// No job lost: a worker SIGKILLed mid-job, a worker restarted under the same
// name, Redis going away and coming back.

const { describe, it, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const NodeResque = require('node-resque')
const { Worker } = require('..')
const { STEP: CYCLE } = require('../lib/resque/scripts')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, collect, sleep, waitFor } = require('./helpers/events')
const { spawnWorker: spawnChild, kill, killAll } = require('./helpers/children')

const sha1 = (s) => require('node:crypto').createHash('sha1').update(s).digest('hex')

const NS = 'resque-recovery'
let Q = 'q'
let n = 0

let redisServer
let redis
let queue

function connection () {
  return redisServer.connection(NS)
}

/** Starts a worker process on this file's Redis, namespace and queue. */
function spawnWorker (cfg) {
  return spawnChild({ port: redisServer.port, namespace: NS, queue: Q, ...cfg })
}

function survivor (options = {}) {
  const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'survivor', ...options }, {
    slow: async (id, ms) => { await sleep(ms); return id }
  })
  w.on('error', () => {})
  return w
}

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
  queue = new NodeResque.Queue({ connection: connection() })
  queue.on('error', () => {})
  await queue.connect()
})

after(() => cleanup(
  () => killAll(),
  () => queue?.end(),
  () => redisServer?.close()
))

beforeEach(async () => {
  Q = `q${++n}`
  await redis.flushdb()
})

describe('SIGKILL mid-job', () => {
  it('leaves the job in the working-on key; a survivor re-queues and runs it once the ping is stale', async () => {
    const child = await spawnWorker({ name: 'doomed', timeout: 100 })
    await queue.enqueue(Q, 'slow', ['job-1', 60000])
    await child.waitLine('job ')
    await kill(child)

    const workingOn = JSON.parse(await redis.get(`${NS}:worker:doomed:${Q}`))
    assert.deepEqual(workingOn.payload, { class: 'slow', queue: Q, args: ['job-1', 60000] })
    assert.equal(workingOn.worker, 'doomed')
    assert.equal(await queue.length(Q), 0)

    // The survivor runs the recovered job with a short sleep: rewrite nothing,
    // just let it through (its definition ignores the 60 s for this id).
    const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'survivor', recovery: { staleAfter: 1000, interval: 200 } }, {
      slow: async (id) => id
    })
    w.on('error', () => {})
    const recovered = nextEvent(w, 'recover', { ms: 8000 })
    const success = nextEvent(w, 'success', { ms: 8000 })
    await w.connect()
    await w.start()
    const [info] = await recovered
    assert.equal(info.worker, 'doomed')
    assert.equal(info.action, 'requeue')
    assert.deepEqual(info.job.args, ['job-1', 60000])
    const [, job, result] = await success
    assert.deepEqual(job.args, ['job-1', 60000])
    assert.equal(result, 'job-1')

    assert.deepEqual(await queue.workers(), { survivor: Q })
    assert.equal(await redis.exists(`${NS}:worker:doomed:${Q}`, `${NS}:worker:ping:doomed`, `${NS}:worker:doomed:${Q}:started`), 0)
    assert.equal(await queue.failedCount(), 0)
    assert.equal(await redis.get(`${NS}:stat:processed`), '1')
    await w.end()
  })

  it('recovery action "fail" puts the job in failed with the reason; node-resque retryStuckJobs brings it back', async () => {
    const child = await spawnWorker({ name: 'doomed2', concurrency: 2 })
    await queue.enqueue(Q, 'slow', ['a', 60000])
    await queue.enqueue(Q, 'slow', ['b', 60000])
    await child.waitLine('job ["a"')
    await child.waitLine('job ["b"')
    await kill(child)

    const w = survivor({ recovery: { staleAfter: 1000, interval: 200, action: 'fail' } })
    const recovered = collect(w, 'recover', 2, { ms: 8000 })
    await w.connect()
    await w.start()
    const infos = (await recovered).map(([i]) => i)
    assert.deepEqual(infos.map((i) => i.worker).sort(), ['doomed2', 'doomed2#1'])
    assert.ok(infos.every((i) => i.action === 'fail'))

    const failed = await queue.failed(0, -1)
    assert.equal(failed.length, 2)
    for (const f of failed) {
      assert.equal(f.exception, 'Worker Timeout')
      assert.match(f.error, /stopped pinging .* while working this job \(recovered by survivor\)/)
      assert.equal(f.backtrace[1], 'queue#forceCleanWorker')
    }
    assert.deepEqual(failed.map((f) => f.payload.args[0]).sort(), ['a', 'b'])
    assert.equal(await redis.get(`${NS}:stat:failed`), '2')

    await w.end()
    const w2 = survivor({ recovery: false })
    const done = collect(w2, 'success', 2)
    await w2.connect()
    await w2.start()
    // Give the retried jobs a short run time through a job definition that ignores ms.
    w2.jobs.slow = { perform: async (id) => id }
    await queue.retryStuckJobs()
    const results = (await done).map((a) => a[2]).sort()
    assert.deepEqual(results, ['a', 'b'])
    assert.equal(await queue.failedCount(), 0)
    await w2.end()
  })

  it('a worker restarted under the same name resumes its own in-flight job', async () => {
    const child = await spawnWorker({ name: 'phoenix', recovery: false })
    await queue.enqueue(Q, 'slow', ['resume-me', 300])
    await child.waitLine('job ')
    await kill(child)
    assert.ok(await redis.get(`${NS}:worker:phoenix:${Q}`))

    const again = await spawnWorker({ name: 'phoenix', recovery: false })
    const line = await again.waitLine('success ')
    assert.equal(line, 'success ["resume-me",300]')
    await waitFor(async () => (await redis.get(`${NS}:stat:processed`)) === '1', { what: 'the ack' })
    assert.equal(await redis.get(`${NS}:worker:phoenix:${Q}`), null)
    assert.equal(await redis.exists(`${NS}:rusque:resumes:phoenix:${Q}`), 0, 'the resume count is cleared once the job ran')
    await kill(again)
  })

  it('a job whose worker kept dying while running it is filed in failed, not re-run forever', async () => {
    const job = { class: 'slow', queue: Q, args: ['deadly', 0] }
    const held = JSON.stringify({ run_at: new Date().toString(), queue: Q, payload: job, worker: 'crashy' })
    await redis.set(`${NS}:worker:crashy:${Q}`, held)
    // Resumed 5 times already, each start under this name died running it (the count is per job).
    await redis.hset(`${NS}:rusque:resumes:crashy:${Q}`, 'job', sha1(held), 'n', '5')
    await queue.enqueue(Q, 'slow', ['next', 0])
    const ran = []
    const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'crashy' }, {
      slow: async (id) => { ran.push(id); return id }
    })
    const failures = collect(w, 'failure', 1)
    const successes = collect(w, 'success', 1)
    await w.connect()
    await w.start()
    let got
    try {
      got = await Promise.all([failures, successes])
    } finally {
      await w.end()
    }
    const [[[fq, fjob, err]], [[, sjob]]] = got
    assert.deepEqual(ran, ['next'], 'the deadly job did not run again')
    assert.equal(fq, Q)
    assert.deepEqual(fjob, job)
    assert.equal(err.code, 'ERR_INTERNAL')
    assert.match(err.message, /stopped 6 times while running this job/)
    assert.deepEqual(sjob.args, ['next', 0])
    const failed = (await redis.lrange(`${NS}:failed`, 0, -1)).map((x) => JSON.parse(x))
    assert.equal(failed.length, 1)
    assert.deepEqual(failed[0].payload, job)
    assert.equal(failed[0].exception, 'ERR_INTERNAL')
    assert.equal(failed[0].worker, 'crashy')
    assert.equal(await redis.exists(`${NS}:rusque:resumes:crashy:${Q}`), 0)
    assert.equal(await redis.exists(`${NS}:worker:crashy:${Q}`), 0)
    assert.equal(await redis.get(`${NS}:stat:failed`), '1')
    assert.equal(await redis.get(`${NS}:stat:processed`), '1')
  })

  it('a resume count left by another job does not count against the job held now', async () => {
    const job = { class: 'slow', queue: Q, args: ['innocent', 0] }
    const held = JSON.stringify({ run_at: new Date().toString(), queue: Q, payload: job, worker: 'reused' })
    await redis.set(`${NS}:worker:reused:${Q}`, held)
    // An earlier job under this name was resumed many times, then recovered elsewhere.
    await redis.hset(`${NS}:rusque:resumes:reused:${Q}`, 'job', sha1('an earlier working-on value'), 'n', '9')
    const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'reused' }, {
      slow: async (id) => id
    })
    const successes = collect(w, 'success', 1)
    await w.connect()
    await w.start()
    let got
    try {
      got = await successes
    } finally {
      await w.end()
    }
    assert.deepEqual(got[0][1], job)
    assert.equal(got[0][2], 'innocent')
    assert.equal(await queue.failedCount(), 0)
    assert.equal(await redis.exists(`${NS}:rusque:resumes:reused:${Q}`), 0)
  })

  it('a live worker is never recovered by a survivor', async () => {
    const child = await spawnWorker({ name: 'alive', timeout: 100 })
    await queue.enqueue(Q, 'slow', ['long', 2500])
    await child.waitLine('job ')
    const w = survivor({ recovery: { staleAfter: 1200, interval: 100 } })
    w.on('recover', () => assert.fail('recovered a live worker'))
    await w.connect()
    await w.start()
    await child.waitLine('success ', 5000)
    await w.end()
    assert.equal(await queue.failedCount(), 0)
    await kill(child)
  })
})

describe('Redis going away', () => {
  it('emits errors, does not crash, acknowledges the in-flight job after Redis returns, and carries on', async () => {
    const w = new Worker({ connection: { ...connection(), options: { maxRetriesPerRequest: 1 } }, queues: [Q], timeout: 100, concurrency: 2, name: 'steadfast' }, {
      slow: async (id, ms) => { await sleep(ms); return id }
    })
    const errors = []
    w.on('error', (e) => errors.push(e))
    await w.connect()
    await w.start()
    const started = nextEvent(w, 'job')
    await queue.enqueue(Q, 'slow', ['in-flight', 800])
    await started

    await redisServer.stop({ save: true })
    await sleep(1500) // the job finishes while Redis is down; its ack must wait
    assert.ok(errors.length > 0, 'outage reported through error events')
    assert.equal(w.running, true)

    const acked = nextEvent(w, 'success', { ms: 15000 })
    await redisServer.start()
    const [, job] = await acked
    assert.deepEqual(job.args, ['in-flight', 800])
    await waitFor(async () => (await redis.get(`${NS}:stat:processed`).catch(() => null)) === '1', { what: 'processed count', ms: 10000 })
    assert.equal(await redis.get(`${NS}:worker:steadfast:${Q}`), null)

    const after = collect(w, 'success', 3, { ms: 15000 })
    for (let i = 0; i < 3; i++) await queue.enqueue(Q, 'slow', [`after-${i}`, 10])
    const ids = (await after).map((a) => a[2]).sort()
    assert.deepEqual(ids, ['after-0', 'after-1', 'after-2'])
    assert.equal(await queue.failedCount(), 0)
    await w.end()
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
  })

  it('after an outage longer than staleAfter, survivors do not take live workers\' jobs', async () => {
    const fast = { maxRetriesPerRequest: 1, retryStrategy: () => 100 }
    const busy = new Worker({ connection: { ...connection(), options: fast }, queues: [Q], timeout: 700, name: 'busy', recovery: false }, {
      slow: async (id, ms) => { await sleep(ms); return id }
    })
    const watcher = new Worker({ connection: { ...connection(), options: fast }, queues: ['other'], timeout: 100, name: 'watcher', recovery: { staleAfter: 1500, interval: 100 } }, {})
    busy.on('error', () => {})
    watcher.on('error', () => {})
    const recovered = []
    watcher.on('recover', (info) => recovered.push(info.worker))
    await busy.connect()
    await busy.start()
    await watcher.connect()
    await watcher.start()
    const started = nextEvent(busy, 'job')
    await queue.enqueue(Q, 'slow', ['long', 6000])
    await started
    await redisServer.stop({ save: true })
    await sleep(3000)
    const done = nextEvent(busy, 'success', { ms: 15000 })
    await redisServer.start()
    await done
    await watcher.end()
    await busy.end()
    assert.deepEqual(recovered, [])
    assert.equal(await queue.failedCount(), 0)
    assert.equal(await redis.get(`${NS}:stat:processed`), '1')
  })

  // Two identical entries claimed in the same second get byte-identical
  // working-on records, so comparing records cannot tell a cycle sent again
  // (acking the first job) from a new one; the cycle's id does. The cycle at
  // stake acks the first job and claims the second.
  async function twins (makeWorker, lose) {
    // Each run notes the working-on value it runs under.
    const runs = []
    const w = makeWorker({ twin: async (tag) => { runs.push(await redis.get(`${NS}:worker:twins:${Q}`)); return tag } })
    w.on('error', () => {})
    const done = collect(w, 'success', 2, { ms: 15000 })
    for (let i = 0; i < 2; i++) await queue.enqueue(Q, 'twin', ['twin-job'])
    await sleep(1050 - (Date.now() % 1000)) // both claims early in one second
    await w.connect()
    lose(w)
    await w.start()
    await done
    await w.end()
    assert.equal(runs.length, 2)
    assert.match(runs[0], /"args":\["twin-job"\]/)
    assert.equal(runs[1], runs[0], 'the two records were byte-identical (the case at stake)')
    assert.equal(await redis.get(`${NS}:stat:processed`), '2')
    assert.equal(await redis.llen(`${NS}:queue:${Q}`), 0)
    assert.equal(await redis.exists(`${NS}:worker:twins:${Q}`), 0)
    assert.equal(await queue.failedCount(), 0)
  }

  for (const mode of ['reply', 'request']) {
    it(`a cycle whose ${mode} is lost and that ioredis sends again is not applied twice`, async () => {
      // The proxy cuts the first request naming the job's args: the acking cycle.
      const proxy = await redisServer.cuttingProxy('twin-job', mode)
      try {
        await twins((jobs) => new Worker({ connection: { ...connection(), port: proxy.port }, queues: [Q], timeout: 100, name: 'twins', recovery: false }, jobs), () => {})
        assert.equal(proxy.armed, false, 'the connection was cut')
      } finally {
        await proxy.close()
      }
    })

    it(`a cycle whose ${mode} is lost and that the worker retries is not applied twice`, async () => {
      // The acking cycle fails (as with ioredis' commandTimeout) after it ran
      // ('reply') or before ('request'); the worker sends it again.
      let lost = 0
      await twins((jobs) => new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'twins', recovery: false }, jobs), (w) => {
        const redisClient = w.connection.redis
        const cycle = redisClient.rusqueStep.bind(redisClient)
        redisClient.rusqueStep = async (...args) => {
          if (lost === 0 && args.some((a) => String(a).includes('twin-job'))) {
            lost++
            if (mode === 'reply') await cycle(...args)
            throw new Error(`${mode} lost`)
          }
          return cycle(...args)
        }
      })
      assert.equal(lost, 1)
    })
  }

  it('while a failed cycle is sent again, a slot whose job finished meanwhile is not handed that job again', async () => {
    // Concurrency 2: the cycle acking `quick` fails after it ran; `medium`
    // finishes during the backoff. Its working-on key still holds it until
    // its own ack, so the resent cycle must not claim for its slot.
    const runs = []
    const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, concurrency: 2, name: 'pair', recovery: false }, {
      quick: async () => { runs.push('quick') },
      medium: async () => { runs.push('medium'); await sleep(40) }
    })
    w.on('error', () => {})
    const done = collect(w, 'success', 2, { ms: 15000 })
    await queue.enqueue(Q, 'quick', [])
    await queue.enqueue(Q, 'medium', [])
    await w.connect()
    let lost = 0
    const redisClient = w.connection.redis
    const cycle = redisClient.rusqueStep.bind(redisClient)
    redisClient.rusqueStep = async (...args) => {
      if (lost === 0 && args.some((a) => String(a).includes('"class":"quick"'))) {
        lost++
        await cycle(...args)
        throw new Error('reply lost')
      }
      return cycle(...args)
    }
    await w.start()
    await done
    await sleep(300) // no third run
    await w.end()
    assert.equal(lost, 1)
    assert.deepEqual(runs, ['quick', 'medium'])
    assert.equal(await redis.get(`${NS}:stat:processed`), '2')
  })

  // Script-level tests of CYCLE: a key in the test namespace, and a cycle id.
  const k = (...parts) => [NS, ...parts].join(':')
  const stepId = (token, n) => token.padEnd(16, '0') + ':' + String(n).padStart(16, '0')

  it('a stale copy of an older cycle arriving after a newer one changes nothing', async () => {
    const wo = k('worker', 'late', Q)
    const cycle = (id, acks, claims) => {
      const keys = [k('stat', 'processed'), k('stat', 'failed'), k('failed'), k('rusque', 'cycle', 'late', Q)]
      const argv = [acks.length, claims ? 1 : 0, claims ? 1 : 0, 'now', id]
      for (const expected of acks) { keys.push(wo, k('stat', 'processed', 'late'), k('stat', 'failed', 'late')); argv.push(expected, 's', '') }
      if (claims) { keys.push(k('queue', Q), wo, k('stat', 'failed', 'late')); argv.push('{"run_at":"now","queue":"q","payload":', Q, ',"worker":"late"}', 'late') }
      return redis.eval(CYCLE, keys.length, ...keys, ...argv)
    }
    const entry = JSON.stringify({ class: 'twin', queue: Q, args: ['twin-job'] })
    const record = '{"run_at":"now","queue":"q","payload":' + entry + ',"worker":"late"}'
    await redis.rpush(k('queue', Q), entry, entry)
    // Cycle 9 claims the first entry; cycle 10 acks it and claims the second
    // (the same record). A late copy of cycle 9, here acking that record,
    // changes nothing; cycle 10 sent again reports what the key holds.
    assert.deepEqual((await cycle(stepId('a', 9), [], true))[1], [[1, entry]])
    assert.deepEqual((await cycle(stepId('a', 10), [record], true))[1], [[1, entry]])
    assert.deepEqual(await cycle(stepId('a', 9), [record], true), [[], [[0]], []])
    assert.deepEqual(await cycle(stepId('a', 10), [record], true), [[1], [[-1, record]], []], 'cycle 10 again: what the key holds')
    assert.equal(await redis.get(wo), record)
    assert.equal(await redis.get(k('stat', 'processed')), '1')
    assert.equal(await redis.llen(k('queue', Q)), 0)
    // Another worker instance under the same name (a new token) is not stale.
    assert.deepEqual((await cycle(stepId('b', 1), [record], false))[0], [1])
    assert.equal(await redis.exists(wo), 0)
  })

  it('a cycle whose claims fail after its acks landed is, sent again, not applied twice', async () => {
    const id = stepId('c', 1)
    const wo = [k('worker', 'p1', Q), k('worker', 'p2', Q)]
    const entry = JSON.stringify({ class: 'twin', queue: Q, args: ['twin-job'] })
    const prefix = '{"run_at":"now","queue":"q","payload":'
    const record = prefix + entry + ',"worker":"p1"}'
    await redis.set(wo[0], record)
    // Slot p1 acks its job and claims an identical one; slot p2 then pops an
    // entry that is not JSON, and filing it fails (the failed list is a string).
    await redis.rpush(k('queue', Q), entry, 'not json')
    await redis.set(k('failed'), 'not a list')
    const keys = [k('stat', 'processed'), k('stat', 'failed'), k('failed'), k('rusque', 'cycle', 'p1', Q),
      wo[0], k('stat', 'processed', 'p1'), k('stat', 'failed', 'p1'), k('queue', Q),
      wo[0], k('stat', 'failed', 'p1'), wo[1], k('stat', 'failed', 'p2')]
    const argv = [1, 1, 2, 'now', id, record, 's', '', prefix, Q, ',"worker":"p1"}', 'p1', ',"worker":"p2"}', 'p2']
    await assert.rejects(redis.eval(CYCLE, keys.length, ...keys, ...argv), /WRONGTYPE/)
    assert.equal(await redis.get(wo[0]), record, 'p1 holds the identical job it claimed')
    // Sent again: the acks are not applied twice, and p1 is told what it holds.
    const [acked, claims] = await redis.eval(CYCLE, keys.length, ...keys, ...argv)
    assert.deepEqual(acked, [1])
    assert.deepEqual(claims, [[-1, record], [0]])
    assert.equal(await redis.get(wo[0]), record)
    assert.equal(await redis.get(k('stat', 'processed')), '1')
  })

  it('end() returns while Redis is down, leaving the job for recovery', async () => {
    const w = new Worker({ connection: { ...connection(), options: { maxRetriesPerRequest: 1 } }, queues: [Q], timeout: 100, name: 'leaver' }, {
      slow: async (id, ms) => { await sleep(ms); return id }
    })
    const errors = []
    w.on('error', (e) => errors.push(e))
    await w.connect()
    await w.start()
    const started = nextEvent(w, 'job')
    await queue.enqueue(Q, 'slow', ['orphan', 300])
    await started
    await redisServer.stop({ save: true })
    const t0 = Date.now()
    await w.end()
    assert.ok(Date.now() - t0 < 15000)
    assert.ok(errors.some((e) => /could not acknowledge/.test(e.message)))
    await redisServer.start()
    await waitFor(async () => (await redis.ping().catch(() => null)) === 'PONG', { what: 'redis back' })
    const left = JSON.parse(await redis.get(`${NS}:worker:leaver:${Q}`))
    assert.deepEqual(left.payload.args, ['orphan', 300])
  })
})
