import rusque from './index.js'

export const { resize, metadata, hash, configure, poolInfo, prometheus, buildInfo, JobQueue, Worker, MultiWorker, native, remote, remoteJobs, RusqueError, AbortError } = rusque
export default rusque
