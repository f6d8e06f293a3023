// Types of `rusque/resque`: rusque's Worker and MultiWorker, node-resque's
// Connection, Queue, Scheduler, Plugin and Plugins and its public types.
// Nothing is declared twice: each name's declaration lives in its package.

export { Worker, MultiWorker, remoteJobs } from './index'
export type { WorkerOptions, MultiWorkerOptions, Jobs } from './index'
export { Connection, Queue, Scheduler, Plugin, Plugins } from 'node-resque'
export type { ParsedJob, ParsedWorkerPayload, ParsedFailedJobPayload, ConnectionOptions, Job, ErrorPayload } from 'node-resque'
