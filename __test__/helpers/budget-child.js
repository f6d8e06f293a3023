'use strict'

// Child process for memory-budget.test.js: 16 concurrent resizes of one large
// PNG on 16 threads, under the memory budget given (bytes; 0: none). Prints
// the peak RSS, the outputs' digests and the pool's memory figures as JSON.

const fs = require('node:fs')
const crypto = require('node:crypto')
const { resize, configure, poolInfo } = require('../..')

const [file, budget, width = '800'] = process.argv.slice(2)
configure({ threads: 16, memoryBudget: Number(budget) })
const input = fs.readFileSync(file)

Promise.all(Array.from({ length: 16 }, () => resize(input, { width: Number(width) }))).then((outs) => {
  const info = poolInfo()
  console.log(JSON.stringify({
    maxRSS: process.resourceUsage().maxRSS * 1024,
    digests: outs.map((o) => crypto.createHash('sha256').update(o).digest('hex')),
    memory: info.memory,
    resize: info.tasks.resize
  }))
})
