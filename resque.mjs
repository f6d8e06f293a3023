// `import ... from 'rusque/resque'`: node-resque's module surface with rusque's
// Worker and MultiWorker (lib/resque/compat.js says how).
import compat from './lib/resque/compat.js'

export const { Worker, MultiWorker, remoteJobs } = compat
// ESM binds named exports when the module loads, so node-resque's names are
// read here: without node-resque installed, importing this module throws
// ERR_PEER_MISSING (require('rusque/resque') defers it to the first read).
export const { Connection, Queue, Scheduler, Plugin, Plugins } = compat
export default compat
