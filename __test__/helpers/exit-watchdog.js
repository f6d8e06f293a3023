'use strict'

// Preloaded into every test file's process by scripts/test.js (node --require).
// A test file whose hooks have all run but which leaves a socket, server,
// timer or child process open never exits, and node --test waits for it: a
// fresh clone once hung for 40 minutes that way. Once the file's last `after`
// hook is done, this gives the process GRACE_MS to exit on its own; if it is
// still running then, it names what is open and exits with code 1, which
// fails the file.

const GRACE_MS = Number(process.env.RUSQUE_TEST_EXIT_GRACE_MS) || 10000

// Only in the test files' processes, not in the `node --test` runner itself
// (which gets the same --require, and sees the --test flag).
if (!process.execArgv.includes('--test')) {
  const { after } = require('node:test')
  // Registered after the test file's own top-level hooks (those are
  // registered while the file loads), so it runs after them.
  setImmediate(() => after(() => {
    setTimeout(() => {
      const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap')
      process.stderr.write(`\n# ${process.argv[1]}: still running ${GRACE_MS} ms after its last after() hook; ` +
        `open: ${open.join(', ') || '(only stdio)'}. A test or hook left something open (a Worker, a Redis ` +
        'connection, a server, a child process, a timer): close it in an after() hook.\n')
      process.exit(1)
    }, GRACE_MS).unref()
  }))
}
