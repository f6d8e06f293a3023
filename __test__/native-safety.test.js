'use strict'

// What a native job may not do to its worker, through both loops (issue #12):
// name the queue's own Redis keys, lose its failure to a corrupted counter,
// raise the operator's resource limits, read a FIFO or an oversized input,
// or fail without a code. And roots and keys are checked at construction.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Worker, MultiWorker, native, metadata } = require('..')
const { startRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')
const { fixture } = require('./helpers/fixtures')

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')
const B64 = (s) => Buffer.from(s).toString('base64')

let server
let redis
let tmp
let root
let outside

const jobs = {
  digest: native('hash', 'sha256'),
  thumb: native('resize', { width: 16, format: 'png', limitInputPixels: 1e6 }),
  small: native('hash', { maxInputBytes: 4 })
}

function job (cls, args, tag) {
  return { class: cls, queue: 'q', args: [args, { tag }] }
}

before(async () => {
  server = await startRedis()
  redis = server.client()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-safety-'))
  root = path.join(tmp, 'root')
  outside = path.join(tmp, 'outside')
  fs.mkdirSync(path.join(root, 'sub'), { recursive: true })
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(root, 'small.jpg'), fixture('320x240.jpg'))
  fs.writeFileSync(path.join(root, 'large.jpg'), fixture('2569067123_aca715a2ee_o.jpg'))
  fs.writeFileSync(path.join(root, 'five.txt'), 'abcde')
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret')
  // 3 GiB that take no disk: read whole, it cost seconds and gigabytes.
  fs.closeSync(fs.openSync(path.join(root, 'sparse.bin'), 'w'))
  fs.truncateSync(path.join(root, 'sparse.bin'), 3 * 1024 ** 3)
  execFileSync('mkfifo', [path.join(root, 'pipe')])
  fs.symlinkSync('loop-b', path.join(root, 'loop-a'))
  fs.symlinkSync('loop-a', path.join(root, 'loop-b'))
  // Links that stay inside the root: a file, and a directory.
  fs.symlinkSync('five.txt', path.join(root, 'five-link.txt'))
  fs.symlinkSync('sub', path.join(root, 'sub-link'))
})

after(async () => {
  await server.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

const nsOf = (loop, what) => `${what}-${loop.rust ? 'rust' : 'js'}`

for (const loop of LOOPS) {
  describe(`native job safety: ${loop.kind}`, () => {
    it('refuses input and output keys in the namespace, and outside the keys option\'s prefixes', async () => {
      const ns = nsOf(loop, 'keys')
      for (let i = 0; i < 10; i++) await redis.rpush(`${ns}:queue:other`, JSON.stringify({ class: 'digest', queue: 'other', args: [{ input: { base64: B64(String(i)) } }] }))
      await redis.set('img:in', 'abc')
      const abc = { base64: B64('abc') }
      const { outcomes } = await runEntries(server, redis, loop, {
        ns,
        jobs,
        options: { keys: { prefix: ['img:', 'thumb:'] } },
        entries: [
          job('digest', { input: abc, output: { key: `${ns}:queue:other` } }, 0),
          job('digest', { input: abc, output: { key: `${ns}:stat:failed` } }, 1),
          job('digest', { input: { key: `${ns}:queue:other` } }, 2),
          job('digest', { input: abc, output: { key: 'elsewhere' } }, 3),
          job('digest', { input: abc, output: { key: 'img:ok', ttl: 60 } }, 4),
          job('digest', { input: { key: 'img:in' } }, 5)
        ]
      })
      for (const i of [0, 1, 2, 3]) {
        assert.equal(outcomes[i].code, 'ERR_KEY_REFUSED', `${i}: ${outcomes[i].error}`)
      }
      assert.match(outcomes[0].error, /output key ".*:queue:other" refused: keys starting with ".*:" are the queue's own/)
      assert.match(outcomes[2].error, /^input key/)
      assert.match(outcomes[3].error, /allows only keys starting with "img:" or "thumb:"/)
      assert.deepEqual(outcomes[4], { ok: true, result: sha256('abc') })
      assert.deepEqual(outcomes[5], { ok: true, result: sha256('abc') })
      // Nothing was harmed: the other queue's ten jobs, the failure count.
      assert.equal(await redis.type(`${ns}:queue:other`), 'list')
      assert.equal(await redis.llen(`${ns}:queue:other`), 10)
      assert.equal(await redis.get(`${ns}:stat:failed`), '4')
      assert.equal(await redis.llen(`${ns}:failed`), 4)
      assert.equal(await redis.exists('elsewhere'), 0)
      assert.equal(await redis.get('img:ok'), sha256('abc'))
    })

    it('files a failure even when the failure and success counters hold something INCR refuses', async () => {
      const ns = nsOf(loop, 'counters')
      await redis.set(`${ns}:stat:failed`, 'not a number')
      await redis.set(`${ns}:stat:processed`, 'nor this')
      const { outcomes, seen, worker } = await runEntries(server, redis, loop, {
        ns,
        jobs,
        entries: [
          job('digest', { input: { key: 'img:absent' } }, 0),
          job('digest', { input: { base64: B64('abc') } }, 1),
          job('digest', { input: { key: 'img:absent-too' } }, 2)
        ]
      })
      assert.equal(outcomes[0].code, 'ERR_INPUT_NOT_FOUND')
      assert.deepEqual(outcomes[1], { ok: true, result: sha256('abc') })
      assert.equal(outcomes[2].code, 'ERR_INPUT_NOT_FOUND')
      const failed = (await redis.lrange(`${ns}:failed`, 0, -1)).map((s) => JSON.parse(s))
      assert.deepEqual(failed.map((f) => [f.exception, f.payload.args[1].tag]), [['ERR_INPUT_NOT_FOUND', 0], ['ERR_INPUT_NOT_FOUND', 2]])
      assert.deepEqual(await redis.keys(`${ns}:worker:*`), [], 'no job left in a working-on key')
      assert.equal(await redis.get(`${ns}:stat:failed`), 'not a number', 'left as it was')
      assert.equal(await redis.llen(`${ns}:queue:q`), 0)
      assert.deepEqual(seen.error, [], 'no error events')
      assert.ok(worker)
    })

    it('takes the definition\'s resource limits as ceilings, and null as "not given"', async () => {
      const ns = nsOf(loop, 'ceilings')
      const large = { path: path.join(root, 'large.jpg') } // 2725x2225, over the definition's 1e6 pixels
      const small = { path: path.join(root, 'small.jpg') } // 320x240
      const { outcomes } = await runEntries(server, redis, loop, {
        ns,
        jobs,
        options: { roots: [root] },
        entries: [
          job('thumb', { input: large, output: { key: 'thumb:0' }, limitInputPixels: false }, 0),
          job('thumb', { input: large, output: { key: 'thumb:1' }, limitInputPixels: 0 }, 1),
          job('thumb', { input: large, output: { key: 'thumb:2' }, limitInputPixels: 2e6 }, 2),
          job('thumb', { input: large, output: { key: 'thumb:3' } }, 3),
          job('thumb', { input: small, output: { key: 'thumb:4' }, limitInputPixels: 1000 }, 4),
          job('thumb', { input: small, output: { key: 'thumb:5', ttl: null }, width: null, format: null, quality: null, limitInputPixels: null }, 5),
          // Past 2^53 a whole number is a float in JSON (1e+300 from JS): the parser saturates it, and the ceiling sees that.
          job('thumb', { input: large, output: { key: 'thumb:6' }, limitInputPixels: 1e300 }, 6),
          // The output limit follows the input limit, so the definition caps it too.
          job('thumb', { input: small, output: { key: 'thumb:7' }, limitOutputPixels: false }, 7)
        ]
      })
      for (const i of [0, 1, 2, 6]) {
        assert.equal(outcomes[i].code, 'ERR_INVALID_ARG', `${i}: ${outcomes[i].error}`)
        assert.match(outcomes[i].error, /^limitInputPixels in force would be .*, over the ceiling of 1000000 set by this job class's native\(\) definition/)
      }
      assert.equal(outcomes[7].code, 'ERR_INVALID_ARG', outcomes[7].error)
      assert.match(outcomes[7].error, /^limitOutputPixels in force would be unlimited, over the ceiling of 1000000/)
      assert.equal(outcomes[3].code, 'ERR_LIMIT_EXCEEDED')
      assert.equal(outcomes[4].code, 'ERR_LIMIT_EXCEEDED', 'a job may lower the limit')
      assert.equal(await redis.exists('thumb:0'), 0)
      assert.ok(outcomes[5].ok, outcomes[5].error)
      const m = await metadata(await redis.getBuffer('thumb:5'))
      assert.deepEqual([m.format, m.width], ['png', 16], 'the defaults stayed')
      assert.equal(await redis.ttl('thumb:5'), -1, 'ttl: null is no expiry')
    })

    it('refuses inputs over maxInputBytes before reading them: files, keys and base64', async () => {
      const ns = nsOf(loop, 'size')
      await redis.set('img:five', 'abcde')
      await redis.set('img:four', 'abcd')
      const { outcomes } = await runEntries(server, redis, loop, {
        ns,
        jobs,
        options: { roots: [root] },
        entries: [
          job('small', { input: { base64: B64('abcde') } }, 0),
          job('small', { input: { key: 'img:five' } }, 1),
          job('small', { input: { path: path.join(root, 'five.txt') } }, 2),
          job('small', { input: { key: 'img:four' } }, 3),
          job('digest', { input: { path: path.join(root, 'sparse.bin') } }, 4),
          job('digest', { input: { base64: B64('abc') }, maxInputBytes: 2 ** 40 }, 5),
          job('small', { input: { key: 'img:four' }, maxInputBytes: 5 }, 6)
        ]
      })
      for (const i of [0, 1, 2]) {
        assert.equal(outcomes[i].code, 'ERR_LIMIT_EXCEEDED', `${i}: ${outcomes[i].error}`)
        assert.match(outcomes[i].error, /holds 5 bytes, over this job's maxInputBytes \(4\)/)
      }
      assert.deepEqual(outcomes[3], { ok: true, result: sha256('abcd') })
      assert.equal(outcomes[4].code, 'ERR_LIMIT_EXCEEDED')
      assert.match(outcomes[4].error, /holds 3221225472 bytes, over this job's maxInputBytes \(268435456\)/)
      assert.equal(outcomes[5].code, 'ERR_INVALID_ARG', 'the default is a ceiling too')
      assert.equal(outcomes[6].code, 'ERR_INVALID_ARG', 'and so is the definition\'s')
    })

    it('follows symlinks that stay inside the roots, and none with followSymlinks: false', async () => {
      const entries = (tag) => [
        job('digest', { input: { path: path.join(root, 'five-link.txt') } }, 0),
        job('digest', { input: { path: path.join(root, 'sub-link', 'b.txt') } }, 1),
        job('digest', { input: { base64: B64('abc') }, output: { path: path.join(root, 'sub-link', `${tag}.out`) } }, 2),
        job('digest', { input: { path: path.join(root, 'five.txt') } }, 3)
      ]
      fs.writeFileSync(path.join(root, 'sub', 'b.txt'), 'in sub')
      // Default: followed (openat2 keeps them beneath the root; Linux 5.6+).
      if (process.platform === 'linux') {
        const tag = `${nsOf(loop, 'follow')}`
        const { outcomes } = await runEntries(server, redis, loop, { ns: tag, jobs, options: { roots: [root] }, entries: entries(tag) })
        assert.deepEqual(outcomes, [
          { ok: true, result: sha256('abcde') },
          { ok: true, result: sha256('in sub') },
          { ok: true, result: sha256('abc') },
          { ok: true, result: sha256('abcde') }
        ])
        assert.equal(fs.readFileSync(path.join(root, 'sub', `${tag}.out`), 'utf8'), sha256('abc'))
      }
      const tag = `${nsOf(loop, 'nofollow')}`
      const { outcomes } = await runEntries(server, redis, loop, { ns: tag, jobs, options: { roots: [root], followSymlinks: false }, entries: entries(tag) })
      for (const i of [0, 1, 2]) {
        assert.equal(outcomes[i].code, 'ERR_PATH_OUTSIDE_ROOTS', `${i}: ${outcomes[i].error}`)
        assert.match(outcomes[i].error, /goes through a symlink, and symlinks are disabled for this Worker \(followSymlinks: false\)/)
      }
      assert.match(outcomes[2].error, /^output path/)
      assert.equal(fs.existsSync(path.join(root, 'sub', `${tag}.out`)), false, 'nothing written through the link')
      assert.deepEqual(outcomes[3], { ok: true, result: sha256('abcde') }, 'real paths still work')
    })

    it('refuses a FIFO at once, and end() returns', async () => {
      const ns = nsOf(loop, 'fifo')
      const { outcomes } = await runEntries(server, redis, loop, {
        ns,
        jobs,
        options: { roots: [root] },
        entries: [
          job('digest', { input: { path: path.join(root, 'pipe') } }, 0),
          job('digest', { input: { base64: B64('after') } }, 1)
        ]
      })
      assert.equal(outcomes[0].code, 'ERR_INVALID_ARG')
      assert.match(outcomes[0].error, /is a FIFO \(named pipe\): native jobs read regular files only/)
      assert.deepEqual(outcomes[1], { ok: true, result: sha256('after') })
    })

    it('gives every file and Redis fault a code: the job\'s (ERR_INVALID_ARG...) or the server\'s', async () => {
      const ns = nsOf(loop, 'codes')
      await redis.rpush('img:list', 'x')
      const { outcomes } = await runEntries(server, redis, loop, {
        ns,
        jobs,
        options: { roots: [root] },
        entries: [
          job('digest', { input: { path: path.join(root, 'n'.repeat(300)) } }, 0),
          job('digest', { input: { path: path.join(root, 'sub') } }, 1),
          job('digest', { input: { path: path.join(root, 'loop-a') } }, 2),
          job('digest', { input: { key: 'img:list' } }, 3),
          job('digest', { input: { path: path.join(root, 'five.txt', 'x') } }, 4),
          job('digest', { input: { base64: B64('abc') }, output: { path: root } }, 5),
          job('digest', { input: { base64: B64('abc') }, output: { path: path.join(root, 'sub') } }, 6),
          job('digest', { input: { path: root } }, 7)
        ]
      })
      for (let i = 0; i < outcomes.length; i++) {
        assert.equal(outcomes[i].code, 'ERR_INVALID_ARG', `${i}: ${outcomes[i].error}`)
      }
      assert.match(outcomes[0].error, /too long/)
      assert.match(outcomes[1].error, /is a directory/)
      assert.match(outcomes[2].error, /symlink/)
      assert.match(outcomes[3].error, /cannot read input from Redis key "img:list": WRONGTYPE/)
      assert.match(outcomes[5].error, /is a root directory itself/)
      assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')), [], 'no temporary beside the root')
      assert.deepEqual(fs.readdirSync(root).filter((f) => f.endsWith('.tmp')), [])
    })
  })
}

describe('roots and keys are checked when a Worker is made', () => {
  const bad = () => [
    ['', /root "" is not an absolute path/],
    ['relative/dir', /root "relative\/dir" is not an absolute path/],
    [path.join(tmp, 'missing'), /does not exist/],
    [path.join(root, 'five.txt'), /is not a directory/]
  ]

  it('Worker and MultiWorker refuse a root that is not an absolute path to an existing directory', () => {
    for (const [r, pattern] of bad()) {
      for (const make of [
        () => new Worker({ connection: server.connection('v'), queues: ['q'], roots: [root, r] }, jobs),
        () => new MultiWorker({ connection: server.connection('v'), queues: ['q'], roots: [r] }, jobs)
      ]) {
        assert.throws(make, (err) => {
          assert.equal(err.name, 'RusqueError')
          assert.equal(err.code, 'ERR_INVALID_ARG')
          assert.match(err.message, pattern)
          assert.match(err.message, /roots must be absolute paths to existing directories/)
          return true
        }, JSON.stringify(r))
      }
    }
    // A good root is resolved once, after symlinks.
    fs.symlinkSync(root, path.join(tmp, 'root-link'))
    const w = new Worker({ connection: server.connection('v'), queues: ['q'], roots: [path.join(tmp, 'root-link')] }, jobs)
    assert.deepEqual(w._nativeJobs.roots, [fs.realpathSync(root)])
  })

  it('Worker and MultiWorker refuse a followSymlinks that is not a boolean', () => {
    for (const followSymlinks of ['false', 0, null, () => false]) {
      for (const make of [
        () => new Worker({ connection: server.connection('v'), queues: ['q'], roots: [root], followSymlinks }, jobs),
        () => new MultiWorker({ connection: server.connection('v'), queues: ['q'], roots: [root], followSymlinks }, jobs)
      ]) {
        assert.throws(make, (err) => {
          assert.equal(err.name, 'RusqueError')
          assert.equal(err.code, 'ERR_INVALID_ARG')
          assert.match(err.message, /^followSymlinks must be true or false/)
          return true
        }, String(followSymlinks))
      }
    }
    for (const followSymlinks of [true, false, undefined]) {
      assert.ok(new MultiWorker({ connection: server.connection('v'), queues: ['q'], roots: [root], followSymlinks }, jobs))
    }
  })

  it('refuses a malformed keys option', () => {
    for (const keys of [{ prefix: 5 }, { prefix: [''] }, { pattern: 'x*' }, 'img:']) {
      assert.throws(() => new Worker({ connection: server.connection('v'), queues: ['q'], keys }, jobs), { code: 'ERR_INVALID_ARG' }, JSON.stringify(keys))
    }
  })
})
