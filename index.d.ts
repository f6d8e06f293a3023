/// <reference types="node" />
import { EventEmitter } from 'node:events'
import type { Cluster, Redis, RedisOptions } from 'ioredis'

/** Anything that holds bytes: a Buffer, any TypedArray or DataView, or an ArrayBuffer. */
export type Input = Uint8Array | ArrayBufferView | ArrayBuffer

export type Fit = 'cover' | 'contain' | 'fill' | 'inside' | 'outside'
export type Kernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos3'
export type OutputFormat = 'jpeg' | 'jpg' | 'png' | 'webp' | 'avif' | 'gif'
/** JPEG and AVIF chroma subsampling: colour at half ('4:2:0') or full ('4:4:4') resolution. */
export type ChromaSubsampling = '4:2:0' | '4:4:4'
export type Position =
  | 'centre' | 'center' | 'top' | 'right top' | 'right' | 'right bottom' | 'bottom' | 'left bottom' | 'left' | 'left top'
  | 'north' | 'northeast' | 'east' | 'southeast' | 'south' | 'southwest' | 'west' | 'northwest'
/** '#rgb', '#rrggbb', '#rrggbbaa', 'white', 'black', 'transparent', or RGB 0-255 with alpha 0-1. */
/** How an overlay's colour combines with the image's (sharp's names; see docs/api.md). */
export type Blend = 'over' | 'multiply' | 'screen' | 'darken' | 'lighten'

/** One overlay of `composite` (sharp's names). */
export interface CompositeOverlay {
  /**
   * The overlay's bytes (JPEG, PNG, WebP, GIF or AVIF), copied when the call is
   * made. In a native job's arguments: { path } (inside the Worker's roots),
   * { key } or { base64 }, as for the main input.
   */
  input: Input | NativeInput
  /** Where it goes when top and left are not given; default 'centre'. */
  gravity?: Position
  /** Offset of its top edge in pixels (with left; may be negative). */
  top?: number
  /** Offset of its left edge in pixels (with top; may be negative). */
  left?: number
  /** Default 'over'. */
  blend?: Blend
}

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
  /** Output format. Default: the input's format (GIF input gives PNG, unless animated). */
  format?: OutputFormat
  /** JPEG, WebP and AVIF quality, 1-100. Default 80 (AVIF: 50, as sharp's; on the same scale, see docs/api.md). */
  quality?: number
  /** JPEG only: write a progressive (multi-scan) JPEG, which browsers draw coarse-to-fine. Default false. */
  progressive?: boolean
  // Encoder options (sharp's names). Each concerns the output format it names; other formats
  // ignore it (its value is still checked), as sharp's per-format options are.
  /** JPEG and AVIF: '4:4:4' keeps colour at full resolution (sharper colour edges, larger file). Default '4:2:0' (AVIF: '4:4:4'). */
  chromaSubsampling?: ChromaSubsampling
  /** JPEG only: mozjpeg's trellis quantisation: smaller files for the same quality, slower. Default false. */
  trellisQuantisation?: boolean
  /** Alternative spelling of trellisQuantisation. */
  trellisQuantization?: boolean
  /** JPEG only: optimised Huffman tables (smaller, a little slower). Default true. */
  optimiseCoding?: boolean
  /** Alternative spelling of optimiseCoding. */
  optimizeCoding?: boolean
  /** PNG only: zlib compression level, 0 (none, fastest) to 9 (smallest, slowest). Default 6. */
  compressionLevel?: number
  /** PNG only: choose a filter per row (smaller for photos); false writes no filter. Default true (sharp: false). */
  adaptiveFiltering?: boolean
  /** PNG only: write an 8-bit indexed (palette) PNG. Default false, or true if colours or dither is given. */
  palette?: boolean
  /** PNG and GIF: most palette entries, 2-256 (for PNG, implies palette). Default 256. */
  colours?: number
  /** Alternative spelling of colours. */
  colors?: number
  /** PNG and GIF: Floyd-Steinberg dithering of the palette, 0 (none) to 1 (full) (for PNG, implies palette). Default 1. */
  dither?: number
  /** Animated GIF and WebP output: times to play, 0 for forever, up to 65535. Default: the input's. */
  loop?: number
  /**
   * Animated GIF and WebP output: milliseconds each frame shows, one number for every frame or an
   * array with one per frame (0 to 16777215; GIF keeps hundredths of a second). Default: the input's.
   */
  delay?: number | number[]
  /**
   * WebP: lossless compression (quality then sets the compression effort). AVIF: full-resolution RGB at
   * the AV1 encoder's finest quantiser, near-lossless but not bit-exact (rav1e has no lossless mode). Default false.
   */
  lossless?: boolean
  /** WebP only: near-lossless (implies lossless), preprocessing at a level set by quality. Default false. */
  nearLossless?: boolean
  /** WebP: CPU effort, 0 (fastest) to 6 (smallest); AVIF: 0 to 9. Default 4. */
  effort?: number
  /** WebP only: quality of the alpha channel in lossy mode, 0-100. Default 100. */
  alphaQuality?: number
  /** Apply the EXIF orientation (1-8) so the output is upright. Default true. */
  autoOrient?: boolean
  /**
   * Every frame of an animated GIF or WebP, resized alike and written as an animated GIF or WebP
   * (format 'gif' or 'webp'; default: the input's) with its delays and loop count. limitInputPixels
   * then counts every frame (each as at least 128x128). Default false: the first frame only. sharp's name.
   */
  animated?: boolean
  /** Reject inputs with more pixels than this (read from the header). false or 0 disables. Default 268402689. */
  limitInputPixels?: number | boolean
  /**
   * Reject resizes whose output has more pixels than this (width x height of the result, and of
   * the resized image inside a 'contain' canvas), checked before the input is decoded. false or 0
   * disables. Default: the same as limitInputPixels (so false there disables this too, unless set).
   * Each format's own size limit applies whatever this is: JPEG 65500, WebP 16383 and AVIF 65536 pixels a side.
   */
  limitOutputPixels?: number | boolean
  /**
   * Resolve to `{ data, info }` (info: the output's format, width, height, channels and size)
   * rather than the Buffer alone, as sharp's toBuffer({ resolveWithObject: true }). Default false.
   * A native resize job with it adds format, width, height and channels to its result (and pages, pageHeight for an animation).
   */
  resolveWithObject?: boolean
  /**
   * Crop to this region (pixels of the upright image) before rotating and resizing; a region
   * outside the image is ERR_INVALID_ARG. sharp's extract before resize.
   */
  extract?: { left: number; top: number; width: number; height: number }
  /** Rotate clockwise by this many degrees: multiples of 90 are exact, other angles rotate onto `background`. */
  rotate?: number
  /** Mirror top to bottom (after rotate). */
  flip?: boolean
  /** Mirror left to right (after rotate). */
  flop?: boolean
  /** Unsharp mask after the resize: true for sharp's mild default, or sharp's parameters. */
  sharpen?: boolean | { sigma?: number; m1?: number; m2?: number; x1?: number; y2?: number; y3?: number }
  /** Gaussian blur after the resize: a sigma from 0.3 to 1000, or true for a mild blur (sigma 0.8). */
  blur?: boolean | number
  /** Luminance only (linear-light Rec. 709), after the resize; output stays RGB(A). */
  greyscale?: boolean
  /** Alias of greyscale. */
  grayscale?: boolean
  /**
   * Overlays composited in order onto the output, after greyscale (a
   * watermark PNG with alpha is the usual one). Each is decoded on the pool
   * and meets limitInputPixels; overlays reaching past the edges are clipped.
   */
  composite?: CompositeOverlay[]
  /** Write the input's EXIF into the output (its Orientation set to 1 when auto-oriented). */
  keepExif?: boolean
  /** Embed the input's ICC profile and leave the pixels in it instead of converting them to sRGB. */
  keepIccProfile?: boolean
  /** keepExif and keepIccProfile. */
  keepMetadata?: boolean
  /** Cancels the call: it rejects with an AbortError (code 'ABORT_ERR'). */
  signal?: AbortSignal
}

/** What a resize wrote (sharp's `info`). */
export interface OutputInfo {
  format: 'jpeg' | 'png' | 'webp' | 'avif' | 'gif'
  width: number
  /** For an animation, every frame's height together (as sharp reports it); see pageHeight. */
  height: number
  /** 3 (RGB) or 4 (RGBA): the channels the encoder was given. */
  channels: number
  /** Output size in bytes. */
  size: number
  /** An animation's frames (animated: true with an animated input). */
  pages?: number
  /** An animation's frame height. */
  pageHeight?: number
}

/** A resize with `resolveWithObject: true` resolves to this. */
export interface ResizeResult {
  data: Buffer
  info: OutputInfo
}

export interface Metadata {
  format: 'jpeg' | 'png' | 'webp' | 'gif' | 'avif'
  /** Stored width, before EXIF orientation (as sharp reports it). */
  width: number
  height: number
  channels: number
  hasAlpha: boolean
  /** EXIF orientation 1-8 (1 when absent). */
  orientation: number
  /** Input size in bytes. */
  size: number
  /** Pixels per inch. JPEG and PNG: 72 when the file does not say; absent for WebP and GIF. */
  density?: number
  /** JPEG only: '4:2:0', '4:2:2', '4:4:4', '4:4:0', '4:1:1', '4:1:0' (with ':4' appended for CMYK). */
  chromaSubsampling?: string
  /** Progressive JPEG or interlaced (Adam7) PNG. */
  isProgressive: boolean
  /** Frames: for GIF always (1 for a still GIF), for PNG and WebP only when animated. */
  pages?: number
  /** Per-frame delay in milliseconds, one entry per page (present with pages). */
  delay?: number[]
  /** Times an animation plays; 0 means forever (present with pages; GIF without a loop block: 1). */
  loop?: number
  /** An ICC profile is embedded (its bytes are in `icc`). */
  hasProfile: boolean
  /** The raw EXIF block (for JPEG with its 'Exif\0\0' prefix, as sharp gives it), if any. */
  exif?: Buffer
  /** The embedded ICC profile, if any. */
  icc?: Buffer
  /** The XMP packet (XML), if any. */
  xmp?: Buffer
}

export type HashAlgorithm = 'sha256' | 'sha512' | 'blake3' | 'md5'

/** metadata() takes no task options; any other key is ERR_INVALID_ARG. */
export interface MetadataOptions {
  /** Cancels the call: it rejects with an AbortError (code 'ABORT_ERR'). */
  signal?: AbortSignal
}

export interface HashOptions {
  /** Default 'sha256'. */
  algorithm?: HashAlgorithm
  /** Cancels the call: it rejects with an AbortError (code 'ABORT_ERR'). */
  signal?: AbortSignal
}

/** Resizes an image on rusque's thread pool. */
export function resize(input: Input, options: ResizeOptions & { resolveWithObject: true }): Promise<ResizeResult>
/** (An options value typed ResizeOptions is taken to leave resolveWithObject unset: a Buffer.) */
export function resize(input: Input, options?: ResizeOptions): Promise<Buffer>
/** Reads an image's header (no full decode). */
export function metadata(input: Input, options?: MetadataOptions): Promise<Metadata>
/** Hex digest of the bytes. Default algorithm 'sha256'. */
export function hash(input: Input, algorithm?: HashAlgorithm | HashOptions): Promise<string>

export interface PoolConfig {
  /** Threads in the pool (default: available parallelism, or RUSQUE_THREADS, 1 to 256). */
  threads: number
  /** Niceness of the pool's threads on Linux (default 10, or RUSQUE_NICE). */
  nice: number
}
/**
 * A duration summary in ms. p50/p99 are the upper bound of the log bucket
 * they fall in (8 buckets a decade from 10 µs to 100 s: at most about a third
 * above the true value); max is exact.
 */
export interface TimeSummary {
  p50: number
  p99: number
  max: number
}
export interface TaskCounts {
  /** Submitted and not started (waiting for a thread or for memory budget). */
  queued: number
  running: number
  completed: number
  failed: number
  /** Stopped by an AbortSignal or timeout. */
  cancelled: number
  /** Time on a pool thread. */
  runTime: TimeSummary
  /** Time from submission to start. */
  waitTime: TimeSummary
}
export interface MemoryInfo {
  /** The memory budget in bytes (0: none). */
  budget: number
  /** Estimated working memory of the tasks running now, in bytes. */
  reserved: number
  /** Tasks waiting for room in the budget. */
  waiting: number
  /** The highest `reserved` while two or more tasks ran together. */
  peakShared: number
}
export interface PoolInfo extends PoolConfig, TaskCounts {
  /** Busy share of the pool's threads (0 to 1) since the previous poolInfo() call. */
  utilization: number
  /** The same counts per task. */
  tasks: Record<TaskName, TaskCounts>
  memory: MemoryInfo
}
/**
 * Replaces the shared pool; jobs already queued finish on the old threads.
 * `threads`: 1 to 256 (more add no throughput for CPU-bound tasks; the
 * threads start on the calling thread, about 10 ms for 256). `nice`: 0 to 19.
 * Out of range: throws RusqueError ERR_INVALID_ARG.
 */
export function configure(options: {
  threads?: number
  nice?: number
  /**
   * Bound on the pool's working memory in bytes (0 or Infinity: none).
   * Default: a quarter of the machine's (or cgroup's) memory, or
   * RUSQUE_MEMORY_BUDGET. Each resize's need is estimated from its header;
   * a task waits while the running ones' estimates would exceed the budget.
   */
  memoryBudget?: number
}): PoolConfig
/** The pool's configuration, counters since start, and utilization since the previous call. */
export function poolInfo(): PoolInfo
/**
 * The pool's counters in the Prometheus text format (0.0.4), plus series for
 * the queues and workers passed, labelled with their keys.
 */
export function prometheus(options?: { queues?: Record<string, JobQueue>; workers?: Record<string, Worker | MultiWorker> }): string
/** Resque jobs a Worker finished (acked) since it was made; runTime in ms. */
export interface WorkerJobCounts {
  completed: number
  failed: number
  runTime: TimeSummary
}
export interface WorkerStats extends WorkerJobCounts {
  /** Per slot (concurrency), by the slot's registered worker name. */
  slots: Array<WorkerJobCounts & { name: string }>
}
export interface MultiWorkerStats extends WorkerJobCounts {
  /** The stats of the workers running now. */
  workers: WorkerStats[]
}

export interface BuildInfo {
  /** The Rust target triple the loaded binary was built for, e.g. 'x86_64-unknown-linux-gnu'. */
  target: string
  simd: {
    /**
     * Whether JPEG decoding and encoding run libjpeg-turbo's SIMD code on this machine
     * (asked of libjpeg-turbo at run time). False means JPEG work is about 2x slower:
     * on x86 a build from source without nasm (only with RUSQUE_ALLOW_NO_SIMD=1).
     */
    jpeg: boolean
  }
}
/** What the loaded native binary is and whether its JPEG codec runs SIMD code. */
export function buildInfo(): BuildInfo

/**
 * Every code a rusque error can carry: the catalogue of crates/core/src/error.rs
 * (__test__/errors.test.js checks this union against it). docs/api.md#errors says
 * what each means and whose fault it is.
 */
export type RusqueErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_UNSUPPORTED_FORMAT'
  | 'ERR_CORRUPT_INPUT'
  | 'ERR_LIMIT_EXCEEDED'
  | 'ABORT_ERR'
  | 'ERR_TIMEOUT'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_CLOSED'
  | 'ERR_INTERNAL'
  | 'ERR_PATH_OUTSIDE_ROOTS'
  | 'ERR_INPUT_NOT_FOUND'
  | 'ERR_OUTPUT_NOT_FOUND'
  | 'ERR_KEY_REFUSED'
  | 'ERR_IO'
  | 'ERR_REDIS_UNREACHABLE'
  | 'ERR_REDIS_REJECTED'
  | 'ERR_NOT_CONNECTED'
  | 'ERR_PEER_MISSING'
  | 'ERR_RUSQUE_NATIVE_LOAD'

/** @deprecated The earlier name of {@link RusqueErrorCode}. */
export type ErrorCode = RusqueErrorCode

export class RusqueError extends Error {
  name: 'RusqueError'
  code: RusqueErrorCode
  constructor(code: RusqueErrorCode, message: string, options?: { cause?: unknown })
}

export class AbortError extends Error {
  name: 'AbortError'
  code: 'ABORT_ERR'
}

export type TaskName = 'resize' | 'metadata' | 'hash'

export interface TaskOptionsMap {
  resize: ResizeOptions
  metadata: MetadataOptions | undefined
  hash: HashAlgorithm | HashOptions | undefined
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
  /** The same as `waiting` (poolInfo()'s name). */
  queued: number
  running: number
  /** Milliseconds from add() to start. */
  waitTime: TimeSummary
  /** Milliseconds from start to completion. */
  runTime: TimeSummary
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
  add(task: 'resize', input: Input, taskOptions: ResizeOptions & { resolveWithObject: true }, jobOptions?: JobOptions): Promise<ResizeResult>
  add<T extends TaskName>(task: T, input: Input, taskOptions?: TaskOptionsMap[T], jobOptions?: JobOptions): Promise<TaskResultMap[T]>
  addBulk(jobs: BulkJob[]): Promise<unknown[]>
  pause(): void
  resume(): void
  onIdle(): Promise<void>
  stats(): QueueStats
  close(options?: { drain?: boolean }): Promise<void>
  /** `await using queue = new JobQueue()`: close() (draining) when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>
}

// ---------------------------------------------------------------------------
// Worker, MultiWorker and native(): node-resque compatible workers.

/** node-resque's connection shapes. A client passed as `redis` is shared and never closed. */
export interface ResqueConnectionOptions {
  host?: string
  port?: number
  database?: number
  password?: string
  /**
   * Key prefix; parts of an array are joined with ':'. Default 'resque'. With a Cluster client it
   * must carry a hash tag, e.g. '{resque}' (else connect() rejects with ERR_INVALID_ARG).
   */
  namespace?: string | string[]
  /** Extra ioredis options (retryStrategy, maxRetriesPerRequest, tls...). */
  options?: RedisOptions
  /** An existing ioredis client (or Cluster: docs/resque.md#redis-cluster) to use instead of opening one. */
  redis?: Redis | Cluster
  /** COUNT for SCAN. Default 100. */
  scanCount?: number
}

/** A queue entry as producers write it. */
export interface ParsedJob {
  class: string
  queue: string
  args: any[]
  pluginOptions?: Record<string, any>
}

/** node-resque Plugin classes (Plugins.Retry, JobLock, ...) or their names. */
export type PluginReference = string | (new (...args: any[]) => any)

export interface JobDefinition<TResult = unknown> {
  plugins?: PluginReference[]
  pluginOptions?: Record<string, Record<string, any>>
  /** Called with the job's args; `this` is the worker (or, with concurrency > 1, its slot's view of it). */
  perform: (this: Worker, ...args: any[]) => TResult | Promise<TResult>
}

export type Jobs = Record<string, JobDefinition<any> | ((this: Worker, ...args: any[]) => any)>

export interface RecoveryOptions {
  /**
   * A registered worker whose ping is older than this (ms) is dead. Default 60000. A worker
   * whose JS thread is busy still pings (from a Rust thread), so this need not cover your
   * longest blocking job; see docs/resque.md, Liveness.
   */
  staleAfter?: number
  /** Its in-flight job goes back to the front of its queue, or to `failed` with the reason. Default 'requeue'. */
  action?: 'requeue' | 'fail'
  /** How often to look (ms). Default min(timeout, staleAfter / 2), at least 1000. */
  interval?: number
}

export interface WorkerOptions {
  connection?: ResqueConnectionOptions
  /** Queues in priority order, or '*' (default) for every queue, sorted. */
  queues?: string[] | string
  /**
   * Poll interval when the queues are empty, and ping interval (ms). Default 5000. Pings come
   * from a Rust thread and carry the JS thread's lag (`rusque: { lag }`, ms).
   */
  timeout?: number
  /** Default `${hostname}:${pid}`. Slot i > 0 registers as `${name}#${i}`. */
  name?: string
  /** false: each slot works one job, then stops polling. Default true. */
  looping?: boolean
  id?: number
  /** Jobs in flight at once. Default 1 (node-resque's behaviour). */
  concurrency?: number
  /**
   * Directories native jobs may read and write: absolute paths to existing directories, checked and
   * opened once at construction (ERR_INVALID_ARG otherwise). Paths must stay inside them after
   * symlinks, which the kernel checks at each open (openat2 on Linux 5.6+; elsewhere no symlink
   * inside a root is followed).
   */
  roots?: string[]
  /**
   * false: native jobs follow no symlink at all inside `roots`, not even one that stays inside (on
   * Linux, openat2 with RESOLVE_NO_SYMLINKS); a path through one fails with ERR_PATH_OUTSIDE_ROOTS.
   * The roots' own paths may still be symlinks (resolved once, at construction). Default true.
   */
  followSymlinks?: boolean
  /** Which Redis keys native jobs may read and write (never the namespace's own keys, `<namespace>:*`). */
  keys?: NativeKeysOptions
  /** Recovery of dead workers' in-flight jobs; false to leave it to node-resque's Scheduler. */
  recovery?: RecoveryOptions | false
  /**
   * false: run native-only job sets in the JS loop instead of the Rust one. Default true.
   * A connection Rust threads cannot use (Sentinel, TLS, a Unix socket, a Cluster's natMap, an
   * ioredis keyPrefix) also runs the JS loop; a Redis Cluster with a hash-tagged namespace runs
   * the Rust loop (docs/resque.md#redis-cluster).
   */
  nativeLoop?: boolean
}

export interface RecoverInfo {
  worker: string
  queues: string
  action: 'requeue' | 'fail' | 'unregister'
  queue: string | null
  job: ParsedJob | null
  /** How old the dead worker's ping was (ms). */
  age: number
}

export interface ReEnqueueInfo {
  delay: number
  remainingAttempts: number
  err: Error
}

/** A drop-in for node-resque 9.x's Worker. */
export declare class Worker extends EventEmitter {
  constructor (options: WorkerOptions, jobs?: Jobs)
  /** Jobs finished per slot and in total, in either loop. */
  stats (): WorkerStats
  options: WorkerOptions
  jobs: Record<string, JobDefinition<any>>
  name: string
  id: number
  queues: string[]
  queue: string | null
  job: ParsedJob | null
  error: Error | null
  result: any
  started: boolean
  running: boolean
  working: boolean
  /** The connection: `redis` (ioredis client) and `key(...parts)`. */
  connection: { redis: Redis | Cluster, key: (...parts: any[]) => string, options: ResqueConnectionOptions }
  /** The enqueue side plugins use: enqueue, enqueueAt, enqueueIn, scheduledAt, length. */
  queueObject: {
    enqueue (q: string, func: string, args?: any[]): Promise<boolean>
    enqueueAt (timestamp: number, q: string, func: string, args?: any[], suppressDuplicateTaskError?: boolean): Promise<boolean | undefined>
    enqueueIn (ms: number, q: string, func: string, args?: any[], suppressDuplicateTaskError?: boolean): Promise<boolean | undefined>
    scheduledAt (q: string, func: string, args?: any[]): Promise<string[]>
    length (q: string): Promise<number>
  }

  /**
   * One attempt; rejects with ERR_REDIS_UNREACHABLE or ERR_REDIS_REJECTED (message names host:port)
   * and may be called again; with ERR_INVALID_ARG for a Cluster client whose namespace has no hash tag.
   */
  connect (): Promise<void>
  /**
   * Registers the worker in Redis (the `workers` set, its `started` key and a ping) without
   * working, so `queue.workers()` and `allWorkingOn()` see it, as node-resque's init() does.
   * start() calls it. Rejects with ERR_NOT_CONNECTED before connect().
   */
  init (): Promise<void>
  /**
   * Connects first if needed, retrying with backoff (an 'error' event per failed attempt) until
   * Redis answers or end() is called. Resolves once the first poll has begun (in the Rust loop:
   * once every slot has polled), so a job already queued runs even if end() follows at once.
   */
  start (): Promise<void>
  /** Stops claiming, waits for running jobs, acknowledges them, unregisters. */
  end (): Promise<void>
  /** `await using worker = new Worker(...)`: end() when the scope ends. */
  [Symbol.asyncDispose] (): Promise<void>
  /** Runs a job without Redis (plugins run, nothing is recorded). Not on a started worker. */
  performInline (func: string, args?: any[] | any): Promise<any>
  /** For a '*' worker: reloads the queue list from Redis. */
  checkQueues (): Promise<void>

  on (event: 'start' | 'end', cb: (time: Date) => void): this
  on (event: 'pause', cb: () => void): this
  on (event: 'poll', cb: (queue: string | null) => void): this
  on (event: 'ping', cb: (time: number) => void): this
  on (event: 'job', cb: (queue: string, job: ParsedJob) => void): this
  on (event: 'reEnqueue', cb: (queue: string, job: any, info: ReEnqueueInfo) => void): this
  on (event: 'success', cb: (queue: string, job: ParsedJob, result: any, duration: number) => void): this
  /** `job` is the raw string for a queue entry that was not a job (error.name 'InvalidPayload'). */
  on (event: 'failure', cb: (queue: string, job: ParsedJob | string, failure: Error & { code?: string }, duration: number) => void): this
  on (event: 'error', cb: (error: Error, queue?: string | null, job?: ParsedJob) => void): this
  on (event: 'recover', cb: (info: RecoverInfo) => void): this
  once (event: string, cb: (...args: any[]) => void): this
}

export interface MultiWorkerOptions {
  connection?: ResqueConnectionOptions
  queues?: string[]
  /** Default hostname; workers register as `${name}:${pid}+${id}`. */
  name?: string
  timeout?: number
  /** Default 1. */
  minTaskProcessors?: number
  /** Default 10. */
  maxTaskProcessors?: number
  /** How often to resize the pool of workers (ms). Default 500. */
  checkTimeout?: number
  /** Event-loop delay (ms) above which no worker is added. Default 10. */
  maxEventLoopDelay?: number
  /** Passed to each Worker. */
  concurrency?: number
  /** Passed to each Worker; checked at construction. */
  roots?: string[]
  /** Passed to each Worker; checked at construction. */
  followSymlinks?: boolean
  /** Passed to each Worker; checked at construction. */
  keys?: NativeKeysOptions
  recovery?: RecoveryOptions | false
}

/** A drop-in for node-resque 9.x's MultiWorker; events carry the worker id first (error: second). */
export declare class MultiWorker extends EventEmitter {
  constructor (options: MultiWorkerOptions, jobs: Jobs)
  /** Its workers' stats() summed. */
  stats (): MultiWorkerStats
  options: MultiWorkerOptions
  workers: Worker[]
  name: string
  running: boolean
  working: boolean
  eventLoopBlocked: boolean
  eventLoopDelay: number
  start (): void
  stop (): Promise<void>
  end (): Promise<void>
  /** Adds one worker (connected and started), as checkWorkers() does when it grows the pool. */
  startWorker (): Promise<void>
  /** One sizing step: measures the event-loop delay, then adds, removes or keeps workers. */
  checkWorkers (): Promise<{ verb: '+' | '-' | '--' | 'x', eventLoopDelay: number }>
  /** Removes the listeners startWorker() added to `worker` (checkWorkers() calls it after ending one), as node-resque's does. */
  cleanupWorker (worker: Worker): Promise<void>
  /** `await using multi = new MultiWorker(...)`: end() when the scope ends. */
  [Symbol.asyncDispose] (): Promise<void>

  on (event: 'start' | 'end', cb: (workerId: number) => void): this
  on (event: 'pause', cb: (workerId: number) => void): this
  on (event: 'poll', cb: (workerId: number, queue: string | null) => void): this
  on (event: 'ping', cb: (workerId: number, time: number) => void): this
  on (event: 'job', cb: (workerId: number, queue: string, job: ParsedJob) => void): this
  on (event: 'reEnqueue', cb: (workerId: number, queue: string, job: any, info: ReEnqueueInfo) => void): this
  on (event: 'success', cb: (workerId: number, queue: string, job: ParsedJob, result: any, duration: number) => void): this
  on (event: 'failure', cb: (workerId: number, queue: string, job: ParsedJob | string, failure: Error, duration: number) => void): this
  on (event: 'error', cb: (error: Error, workerId?: number, queue?: string | null, job?: ParsedJob) => void): this
  on (event: 'recover', cb: (workerId: number, info: RecoverInfo) => void): this
  on (event: 'multiWorkerAction', cb: (verb: '+' | '-' | '--' | 'x', eventLoopDelay: number) => void): this
  once (event: string, cb: (...args: any[]) => void): this
}

/**
 * Confines native jobs' `input.key` and `output.key`. Keys under the Worker's namespace
 * (`<namespace>:*`: queues, stats, failed jobs) are always refused; with `prefix`, a key must also
 * start with it (or with one of them). A refused key fails the job with ERR_KEY_REFUSED.
 */
export interface NativeKeysOptions {
  prefix?: string | string[]
}

/** Where a native job reads its bytes: a file inside `roots`, a Redis key, or inline base64. */
export type NativeInput = { path: string } | { key: string } | { base64: string }
/** Where a native job writes its result: a file inside `roots` (written atomically), or a Redis key (ttl in seconds). */
export type NativeOutput = { path: string } | { key: string, ttl?: number }

/** The single argument a producer enqueues for a native job; other fields are task options overriding the defaults. */
export interface NativeJobArgs {
  input: NativeInput
  output?: NativeOutput
  [option: string]: unknown
}

export interface NativeJobDefinition extends JobDefinition<any> {
  native: { task: 'resize' | 'metadata' | 'hash', defaults: Readonly<Record<string, unknown>> }
}

/**
 * A job definition whose CPU part runs on rusque's pool.
 * - resize: defaults are resize options (width, height, fit, format, quality...); output required;
 *   the job's result is { size, key } or { size, path } (with resolveWithObject: true, also the
 *   output's format, width, height and channels, and pages and pageHeight for an animation).
 * - metadata: the result is the metadata object (written as JSON when output is given), except
 *   that exif, icc and xmp are replaced by their sizes in bytes: exifSize, iccSize, xmpSize.
 * - hash: defaults { algorithm } (or the algorithm as a string); the result is the hex digest.
 * With an output, an object result also says where it went ({ key } or { path }).
 * Every task takes `maxInputBytes` (default 256 MiB): a larger file, key value or base64 input
 * fails with ERR_LIMIT_EXCEEDED before it is read.
 * A job's options override the defaults, except: `null` means "not given" (the default stays); and
 * resource limits set here (`limitInputPixels`, `limitOutputPixels`, `maxInputBytes`, which has its
 * default as a ceiling even when not set) are ceilings a job may lower but never raise
 * (`false`/0, unlimited, counts as raising): such a job fails with ERR_INVALID_ARG.
 * Failures carry `code`: ERR_PATH_OUTSIDE_ROOTS, ERR_INPUT_NOT_FOUND, ERR_OUTPUT_NOT_FOUND, ERR_KEY_REFUSED,
 * ERR_LIMIT_EXCEEDED, ERR_INVALID_ARG (the job is wrong), ERR_IO, ERR_REDIS_REJECTED (the server is), or the task's own.
 */
export declare function native (task: 'resize', defaults?: Record<string, unknown>, extra?: { plugins?: PluginReference[], pluginOptions?: Record<string, Record<string, any>> }): NativeJobDefinition
export declare function native (task: 'metadata', defaults?: Record<string, unknown>, extra?: { plugins?: PluginReference[], pluginOptions?: Record<string, Record<string, any>> }): NativeJobDefinition
export declare function native (task: 'hash', defaults?: Omit<HashOptions, 'signal'> | HashAlgorithm, extra?: { plugins?: PluginReference[], pluginOptions?: Record<string, Record<string, any>> }): NativeJobDefinition

// ---------------------------------------------------------------------------
// remote() and remoteJobs(): the same calls, run by the fleet.

/** remote()'s options. */
export interface RemoteOptions {
  /** node-resque's connection options, or `{ redis }` (an ioredis client, shared: never closed). The same shape as a Worker's. */
  connection?: ResqueConnectionOptions
  /** The queue calls go to; Workers with remoteJobs() must work it. Default 'rusque'. */
  queue?: string
  /** Milliseconds a call waits for its answer before it rejects with ERR_TIMEOUT. Default 30000. */
  timeout?: number
  /** The largest input sent, in bytes (larger: ERR_LIMIT_EXCEEDED before anything is sent). Default and ceiling 256 MiB. */
  maxInputBytes?: number
  /**
   * Run a call on this process's pool while it has a free thread (the local call, no timeout),
   * and send it to the fleet only when every thread is busy. Default false.
   */
  spill?: boolean
}

/** What a remote call takes beside the local call's options: its own timeout (ms). */
export interface RemoteCallOptions {
  timeout?: number
}

/**
 * A caller of the fleet: the local functions' arguments (plus `timeout`), their results and
 * their coded errors. ERR_TIMEOUT when no worker answers in time, AbortError on `signal`,
 * ERR_REDIS_UNREACHABLE when the connection to Redis is lost while a call waits,
 * ERR_NOT_CONNECTED for calls still waiting when close() is called.
 */
export interface Remote {
  resize(input: Input, options: ResizeOptions & RemoteCallOptions & { resolveWithObject: true }): Promise<ResizeResult>
  resize(input: Input, options?: ResizeOptions & RemoteCallOptions): Promise<Buffer>
  metadata(input: Input, options?: MetadataOptions & RemoteCallOptions): Promise<Metadata>
  hash(input: Input, algorithm?: HashAlgorithm | (HashOptions & RemoteCallOptions)): Promise<string>
  /** Gives up the calls still waiting (nothing is left in Redis) and closes the connections it opened. */
  close(): Promise<void>
}

/** Sends resize, metadata and hash calls to Workers running remoteJobs(), through Redis. */
export declare function remote(options?: RemoteOptions): Remote

/** The job class names remote calls are queued under. */
export type RemoteJobClass = 'rusque:resize' | 'rusque:metadata' | 'rusque:hash'

/** Limits a worker puts on the remote calls it answers (remoteJobs()). */
export interface RemoteJobLimits {
  /** The largest input read for a call (bytes); default 256 MiB. */
  maxInputBytes?: number
  /** A resize's limitInputPixels when the call sets none, and the most a call may set. */
  limitInputPixels?: number | false
  /** A resize's limitOutputPixels when the call sets none, and the most a call may set. */
  limitOutputPixels?: number | false
}

/**
 * The job definitions that answer remote() calls, under their class names: give them to a
 * Worker (or MultiWorker) whose jobs are all native, so it runs them in the Rust loop.
 */
export declare function remoteJobs(limits?: RemoteJobLimits): Record<RemoteJobClass, NativeJobDefinition>
