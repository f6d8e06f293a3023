import rusque from './index.js'

export const { resize, metadata, hash, configure, poolInfo, prometheus, buildInfo, JobQueue, Worker, MultiWorker, native, RusqueError, AbortError } = rusque
export default rusque
