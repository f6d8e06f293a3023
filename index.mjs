import rusque from './index.js'

export const { resize, metadata, hash, configure, poolInfo, JobQueue, RusqueError, AbortError } = rusque
export default rusque
