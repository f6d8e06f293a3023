/// <reference types="node" />
import { EventEmitter } from 'node:events'

/** Anything that holds bytes: a Buffer, any TypedArray or DataView, or an ArrayBuffer. */
export type Input = Uint8Array | ArrayBufferView | ArrayBuffer

export type Fit = 'cover' | 'contain' | 'fill' | 'inside' | 'outside'
export type Kernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos3'
export type OutputFormat = 'jpeg' | 'jpg' | 'png' | 'webp'
export type Position =
  | 'centre' | 'center' | 'top' | 'right top' | 'right' | 'right bottom' | 'bottom' | 'left bottom' | 'left' | 'left top'
  | 'north' | 'northeast' | 'east' | 'southeast' | 'south' | 'southwest' | 'west' | 'northwest'
/** '#rgb', '#rrggbb', '#rrggbbaa', 'white', 'black', 'transparent', or RGB 0-255 with alpha 0-1. */
export type Colour = string | { r: number; g: number; b: number; alpha?: number }

export interface ResizeOptions {
  /** Output width in pixels, 1-65535. Omit to derive it from height and the aspect ratio. */
  width?: number
  /** Output height in pixels, 1-65535. Omit to derive it from width and the aspect ratio. */
  height?: number
  /** How the image fits width x height when both are given. Default 'cover'. */
  fit?: Fit
  /** Anchor for cover crops and contain placement. Default 'centre'. */
  position?: Position
  /** Letterbox colour for 'contain', and the colour alpha is flattened onto for JPEG output. Default white. */
  background?: Colour
  /** Never enlarge: an image smaller than the target keeps its size. Default false. */
  withoutEnlargement?: boolean
  /** Resampling kernel. Default 'lanczos3'. */
  kernel?: Kernel
  /** Output format. Default: the input's format (GIF input gives PNG). */
  format?: OutputFormat
  /** JPEG and WebP quality, 1-100. Default 80. */
  quality?: number
  /** Apply the EXIF orientation (1-8) so the output is upright. Default true. */
  autoOrient?: boolean
  /** Reject inputs with more pixels than this (read from the header). false or 0 disables. Default 268402689. */
  limitInputPixels?: number | boolean
  /** Cancels the call: it rejects with an AbortError (code 'ABORT_ERR'). */
  signal?: AbortSignal
}

export interface Metadata {
  format: 'jpeg' | 'png' | 'webp' | 'gif'
  /** Stored width, before EXIF orientation (as sharp reports it). */
  width: number
  height: number
  channels: number
  hasAlpha: boolean
  /** EXIF orientation 1-8 (1 when absent). */
  orientation: number
  /** Input size in bytes. */
  size: number
}

export type HashAlgorithm = 'sha256' | 'sha512' | 'blake3' | 'md5'

/** Resizes an image on rusque's thread pool. */
export function resize(input: Input, options?: ResizeOptions): Promise<Buffer>
/** Reads an image's header (no full decode). */
export function metadata(input: Input, options?: { signal?: AbortSignal }): Promise<Metadata>
/** Hex digest of the bytes. Default algorithm 'sha256'. */
export function hash(input: Input, algorithm?: HashAlgorithm | { algorithm?: HashAlgorithm; signal?: AbortSignal }): Promise<string>

export interface PoolInfo {
  /** Threads in the pool (default: available parallelism, or RUSQUE_THREADS). */
  threads: number
  /** Niceness of the pool's threads on Linux (default 10, or RUSQUE_NICE). */
  nice: number
}
/** Replaces the shared pool; jobs already queued finish on the old threads. */
export function configure(options: { threads?: number; nice?: number }): PoolInfo
export function poolInfo(): PoolInfo

export type ErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_UNSUPPORTED_FORMAT'
  | 'ERR_CORRUPT_INPUT'
  | 'ERR_LIMIT_EXCEEDED'
  | 'ERR_INTERNAL'
  | 'ERR_TIMEOUT'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_CLOSED'
  | 'ERR_PATH_OUTSIDE_ROOTS'

export class RusqueError extends Error {
  name: 'RusqueError'
  code: ErrorCode | string
  constructor(code: string, message: string, options?: { cause?: unknown })
}

export class AbortError extends Error {
  name: 'AbortError'
  code: 'ABORT_ERR'
}

export type TaskName = 'resize' | 'metadata' | 'hash'

export interface TaskOptionsMap {
  resize: ResizeOptions
  metadata: { signal?: AbortSignal } | undefined
  hash: HashAlgorithm | { algorithm?: HashAlgorithm; signal?: AbortSignal } | undefined
}

export interface TaskResultMap {
  resize: Buffer
  metadata: Metadata
  hash: string
}

export interface JobOptions {
  /** Higher runs first; FIFO within a priority. Integer, default 0. */
  priority?: number
  /** Cancels the job: waiting, it never runs; running, it rejects at once and stops at its next checkpoint. */
  signal?: AbortSignal
  /** Milliseconds of run time before the job rejects with ERR_TIMEOUT. */
  timeout?: number
  /** Echoed in events. */
  id?: string
}

export interface JobInfo {
  id: string | undefined
  task: TaskName
  priority: number
}

export interface QueueStats {
  added: number
  completed: number
  failed: number
  cancelled: number
  timedOut: number
  /** add() calls refused with ERR_QUEUE_FULL. */
  rejected: number
  waiting: number
  running: number
  /** Milliseconds from add() to start, over the last 10,000 jobs. */
  waitTime: { p50: number; p99: number }
  /** Milliseconds from start to completion, over the last 10,000 jobs. */
  runTime: { p50: number; p99: number }
}

export type BulkJob<T extends TaskName = TaskName> =
  | { task: T; input: Input; options?: TaskOptionsMap[T]; jobOptions?: JobOptions }
  | [T, Input, TaskOptionsMap[T]?, JobOptions?]

export interface JobQueueOptions {
  /** Jobs of this queue on the pool at once. Default: the pool's thread count. */
  concurrency?: number
  /** Waiting jobs allowed before add() rejects with ERR_QUEUE_FULL. Default: unbounded. */
  maxQueued?: number
}

export declare interface JobQueue {
  on(event: 'active', listener: (job: JobInfo) => void): this
  on(event: 'completed', listener: (job: JobInfo, result: unknown) => void): this
  on(event: 'failed', listener: (job: JobInfo, error: Error) => void): this
  on(event: 'idle' | 'drain' | 'pause' | 'resume' | 'close', listener: () => void): this
  once(event: 'active', listener: (job: JobInfo) => void): this
  once(event: 'completed', listener: (job: JobInfo, result: unknown) => void): this
  once(event: 'failed', listener: (job: JobInfo, error: Error) => void): this
  once(event: 'idle' | 'drain' | 'pause' | 'resume' | 'close', listener: () => void): this
}

export declare class JobQueue extends EventEmitter {
  constructor(options?: JobQueueOptions)
  readonly concurrency: number
  readonly maxQueued: number
  /** Jobs waiting to start. */
  readonly size: number
  /** Jobs on the pool now. */
  readonly running: number
  readonly isPaused: boolean
  readonly isClosed: boolean
  add<T extends TaskName>(task: T, input: Input, taskOptions?: TaskOptionsMap[T], jobOptions?: JobOptions): Promise<TaskResultMap[T]>
  addBulk(jobs: BulkJob[]): Promise<unknown[]>
  pause(): void
  resume(): void
  onIdle(): Promise<void>
  stats(): QueueStats
  close(options?: { drain?: boolean }): Promise<void>
}
