'use strict'

// Key names of the resque layout. node-resque and Ruby resque read the same
// keys, so every name here is part of the wire contract.

/**
 * Returns key(...parts): the namespace (a string or an array of parts) and the
 * parts joined with ':', blank parts dropped.
 */
function keyMaker (namespace) {
  const head = Array.isArray(namespace) ? namespace.slice() : [namespace]
  return function key (...parts) {
    const all = head.concat(parts)
    let out = ''
    for (let i = 0; i < all.length; i++) {
      const part = all[i]
      if (String(part).trim() === '') continue
      out = out === '' ? String(part) : out + ':' + part
    }
    return out
  }
}

/** The keys one registered worker name owns. */
function workerKeys (key, name, queues) {
  return {
    entry: name + ':' + queues, // member of <ns>:workers
    workingOn: key('worker', name, queues),
    started: key('worker', name, queues, 'started'),
    ping: key('worker', 'ping', name),
    processed: key('stat', 'processed', name),
    failed: key('stat', 'failed', name),
    // rusque's own, beside node-resque's (which its tools read); the Rust
    // loop names them alike (Keys::own).
    resumes: key('rusque', 'resumes', name, queues),
    // The step id key (lua/step-id.lua). It keeps its historical name,
    // `rusque:cycle`, from when the JS loop called its step a cycle: it is
    // persisted Redis layout (docs/resque.md), not renamed with the code.
    step: key('rusque', 'cycle', name, queues)
  }
}

module.exports = { keyMaker, workerKeys }
