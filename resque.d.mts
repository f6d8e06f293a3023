// Declarations for the ESM entry of `rusque/resque` (resque.mjs): the same
// named exports as resque.d.ts, plus the default export resque.mjs adds.

import * as compat from './resque.js'

export * from './resque.js'
export default compat
