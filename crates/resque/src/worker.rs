//! A resque worker loop in Rust for native jobs: claim from Redis, read the
//! input, run the task on the CPU pool, write the output, ack, all without
//! the JS thread. The slots (one registered worker name each, one job at a
//! time) are tasks on two I/O threads (IO_THREADS), each a tokio
//! current-thread runtime whose slots share one multiplexed Redis
//! connection (on a Redis Cluster, one per node: crate::link): their steps travel pipelined on it, so Redis reads them in
//! one go and answers them in one write, instead of one thread, one
//! connection and one wake-up per slot and job. The CPU work runs on the
//! shared pool.
//!
//! Claims are atomic (a Lua script pops the entry and writes the worker's
//! working-on key together), so a worker killed mid-job leaves its job in that
//! key, where a surviving worker or node-resque's Scheduler recovers it. The
//! same script acks the slot's previous job and returns the claimed job's
//! input key's size and, when small (STEP_INPUT_BYTES), its value, so a job
//! whose input and output are small Redis values costs one round trip; a
//! larger input is read with a plain GET of its own.
//!
//! On a Redis Cluster (crate::link) a script may touch only the keys it
//! declares, all in the slot of the namespace's hash tag; a job's input and
//! output keys are in slots of their own. There the input is read with plain
//! commands after the claim, and the output written with a plain SET before
//! the step that acks the job (a job run again after a crash writes it again).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::files::Roots;
use super::job::{input_too_large, InputRef, KeyOutput, NativeJob, Spec};
use super::keys::Keys;
use super::link::{Con, Link, Target};
use super::payload;
use super::remote;
use super::plugins::{JobLock, PluginJob, Plugins, ReEnqueued, Retry};
use rusque_core::error::{Code, Error};
use rusque_core::pool::{self, Cancel};
use rusque_core::tasks::Task;

/// One script per job: ack the slot's previous job, claim the next
/// (lua/step-rust.lua says how, with its KEYS and ARGV), with the step id
/// functions both loops share (lua/step-id.lua) prepended.
const STEP: &str = concat!(include_str!("../../../lua/step-id.lua"), include_str!("../../../lua/step-rust.lua"));

/// A finished job whose acknowledgement rides on the slot's next step.
/// Its `success` event is built from it once the ack has landed (or, if Redis
/// refuses the output, its `failed` record).
struct Ack {
  output: Option<KeyOutput>,
  /// The working-on record of the job (the ack applies only while the key holds it).
  record: Vec<u8>,
  queue: String,
  entry: String,
  result: Value,
  /// Whole milliseconds, as node-resque reports a job's duration.
  duration_ms: u64,
  /// The id of the step that first carried this ack: sent again, it keeps it.
  step: Option<u64>,
}

/// What a slot carries from one connection to the next.
#[derive(Default)]
struct Carry {
  /// Registered in Redis: the slot may hold a job. A stop then still
  /// reconnects a few times to finish it (see run).
  registered: bool,
  /// The slot has looked at its working-on key once: a job found there later
  /// is this process's own, not one an earlier process died running.
  looked: bool,
  /// A finished job whose ack was on its way when the connection failed.
  unacked: Option<Ack>,
}

/// What a step claimed: the queue, the entry, and what the step read of the
/// input key when the entry named its input by key (KeyInput).
struct Claimed {
  queue: String,
  /// The entry, or its length when it is not UTF-8 (such an entry is filed
  /// as InvalidPayload, never run on altered bytes).
  entry: Result<String, usize>,
  input: Option<KeyInput>,
  /// The working-on record the claim wrote (or found), byte for byte.
  record: Vec<u8>,
}

/// A claimed job's input key as the step read it: its size (0 when the key
/// is absent), or why Redis refused to read it (a key of another type); and
/// its value, when that is at most STEP_INPUT_BYTES.
struct KeyInput {
  key: String,
  size: Result<u64, String>,
  value: Option<Vec<u8>>,
}

/// Input values up to this size come back with the step that claims their
/// job; larger ones are read with a GET of their own (or not at all, when
/// over the job's maxInputBytes). A value copied through the script costs
/// Redis more than a plain GET of it, but the GET's own round trip costs
/// more than that for small values: on 2 cores, a native sha256 of 4 KiB
/// inputs ran at 38k jobs/s with the value in the step against 26k with a
/// GET of its own, with less CPU per job in both the worker (16-19 against
/// 21-24 µs) and redis-server (24-25 against 24-31 µs).
const STEP_INPUT_BYTES: usize = 16 * 1024;

/// How many times in a row a job left in a slot's working-on key is re-run
/// at start before it is filed in `failed` instead.
const MAX_RESUMES: u64 = 5;

/// Files a failed job, only while the working-on key holds its record
/// (lua/fail.lua).
const FAIL: &str = include_str!("../../../lua/fail.lua");

/// Unregisters a slot unless its working-on key holds a job (lua/untrack.lua).
const UNTRACK: &str = include_str!("../../../lua/untrack.lua");

/// Counts a resume per job (lua/resume.lua; the JS loop runs it too).
const RESUME: &str = include_str!("../../../lua/resume.lua");

/// Retry's and JobLock's re-enqueue into the delayed queue (lua/delay.lua; crate::plugins).
const DELAY: &str = include_str!("../../../lua/delay.lua");

/// After a stop, how many times a slot that may hold a job reconnects to finish it.
const STOP_RETRIES: u32 = 5;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Tasks this small run on the slot's I/O thread itself: handing them to the
/// pool and waiting costs more than the work (a 4 KiB sha256 is a few
/// microseconds). Kept small, since the thread's other slots wait meanwhile.
const INLINE_HASH_BYTES: usize = 16 * 1024;

/// How often a slot running a remote call's task looks whether its caller
/// still waits (crate::remote): the longest a cancelled call's task runs on.
const CALL_CHECK: Duration = Duration::from_millis(50);

/// Bits of [`Config::events`].
pub const EMIT_JOB: u8 = 1;
pub const EMIT_SUCCESS: u8 = 2;

#[derive(Debug, Clone)]
pub struct Config {
  /// One server or a Redis Cluster (crate::link).
  pub target: Target,
  pub namespace: String,
  pub queues: Vec<String>,
  /// One registered worker name per slot; each slot runs one job at a time.
  pub slots: Vec<String>,
  /// How long to sleep when every queue is empty (node-resque's `timeout`).
  pub poll: Duration,
  pub ping: Duration,
  /// The directories path inputs and outputs must stay in, opened once.
  pub roots: Arc<Roots>,
  pub jobs: HashMap<String, NativeJob>,
  /// Which of the per-job events to emit ([`EMIT_JOB`], [`EMIT_SUCCESS`]);
  /// failures and errors are always emitted. Shared so the JS side can switch
  /// them as listeners come and go.
  pub events: Arc<AtomicU8>,
}

#[derive(Debug, Clone)]
pub enum Event {
  Start { slot: usize },
  End { slot: usize },
  Job { slot: usize, queue: String, payload: String },
  /// `payload` is always valid JSON here: the entry parsed as a job.
  Success { slot: usize, queue: String, payload: String, result: Value, duration_ms: u64 },
  /// `exception` is what the failed record says: InvalidPayload, Error (unknown
  /// class) or the error code.
  Failure { slot: usize, queue: String, payload: String, exception: String, error: Error, duration_ms: u64 },
  Error { slot: usize, message: String },
  Pause { slot: usize },
  /// The slot's first poll is done: it claimed a job (or found one held in
  /// its working-on key), or the queues were empty. The slot then waits for
  /// [`Handle::release`] (or a stop) before it runs that job.
  Ready { slot: usize },
  /// The Retry plugin put a failed job in the delayed queue: node-resque's
  /// `reEnqueue` (queue, job, { delay, remainingAttempts, err }). A
  /// `success` event follows, as node-resque's job then completes.
  ReEnqueue { slot: usize, queue: String, payload: String, delay_ms: u64, remaining: i64, exception: String, error: Error },
  /// The Noop plugin swallowed a job's failure: JS logs the error (the job's
  /// Noop logger, or console.log); a `success` event follows the ack.
  Noop { slot: usize, queue: String, payload: String, exception: String, error: Error },
}

impl Event {
  /// Every event kind by name, in the order of their numbers on the wire
  /// (`kind()`): the one list, which JS reads through the binding.
  pub const KINDS: [&'static str; 10] = ["start", "job", "success", "failure", "end", "pause", "error", "ready", "reEnqueue", "noop"];

  /// The event's kind, as its index in [`Event::KINDS`].
  pub fn kind(&self) -> u8 {
    match self {
      Event::Start { .. } => 0,
      Event::Job { .. } => 1,
      Event::Success { .. } => 2,
      Event::Failure { .. } => 3,
      Event::End { .. } => 4,
      Event::Pause { .. } => 5,
      Event::Error { .. } => 6,
      Event::Ready { .. } => 7,
      Event::ReEnqueue { .. } => 8,
      Event::Noop { .. } => 9,
    }
  }
}

pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

pub struct Handle {
  stop: Arc<AtomicBool>,
  gate: Arc<Gate>,
  threads: Vec<JoinHandle<()>>,
}

/// Holds every slot after its first poll until opened, so that the caller
/// (node-resque's `start()`, which returns once its first poll is under way)
/// can return first and its caller attach listeners before the first job's
/// events.
#[derive(Default)]
struct Gate {
  open: AtomicBool,
  opened: tokio::sync::Notify,
}

impl Gate {
  fn open(&self) {
    self.open.store(true, Ordering::Release);
    self.opened.notify_waiters();
  }
  async fn wait(&self) {
    loop {
      // Registered before the flag is read, so an open() in between still wakes it.
      let mut notified = std::pin::pin!(self.opened.notified());
      notified.as_mut().enable();
      if self.open.load(Ordering::Acquire) {
        return;
      }
      notified.await;
    }
  }
}

impl Handle {
  /// Asks every slot to stop after its current job; returns at once.
  pub fn stop(&self) {
    self.stop.store(true, Ordering::Release);
    self.gate.open();
  }
  /// Lets the slots go on past their first poll (see [`Event::Ready`]).
  pub fn release(&self) {
    self.gate.open();
  }
  pub fn join(self) {
    for t in self.threads {
      let _ = t.join();
    }
  }
}

fn now_nanos() -> u128 {
  SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// 64 random bits from the standard library's randomly seeded hasher.
fn random_u64() -> u64 {
  use std::hash::{BuildHasher, Hasher};
  let mut h = std::collections::hash_map::RandomState::new().build_hasher();
  h.write_u128(now_nanos());
  h.finish()
}

fn now_millis() -> u64 {
  (now_nanos() / 1_000_000) as u64
}

pub(crate) fn now_seconds() -> u64 {
  SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A ping's time as node-resque writes it: whole seconds, rounded to the
/// nearest. Peers subtract it from their clock and compare with staleAfter;
/// rounded down, every ping would look up to a second older than it is.
pub(crate) fn ping_seconds() -> u64 {
  SystemTime::now().duration_since(UNIX_EPOCH).map(|d| (d.as_millis() as u64 + 500) / 1000).unwrap_or(0)
}

/// Starts the slots, spread over [`IO_THREADS`] threads. Each slot reports
/// [`Event::Ready`] after its first poll and waits there until
/// [`Handle::release`] or [`Handle::stop`].
pub fn start(config: Config, sink: Sink) -> Handle {
  let stop = Arc::new(AtomicBool::new(false));
  let gate = Arc::new(Gate::default());
  let config = Arc::new(config);
  let n = IO_THREADS.min(config.slots.len()).max(1);
  let threads = (0..n)
    .map(|t| {
      let mine: Vec<usize> = (t..config.slots.len()).step_by(n).collect();
      let (config, sink, stop, gate) = (Arc::clone(&config), Arc::clone(&sink), Arc::clone(&stop), Arc::clone(&gate));
      std::thread::Builder::new()
        .name(format!("rusque-resque-{t}"))
        .spawn(move || run_slots(config, mine, sink, stop, gate))
        .expect("rusque: could not start a worker thread")
    })
    .collect();
  Handle { stop, gate, threads }
}

/// How many threads the slots are spread over, each a tokio current-thread
/// runtime with its own multiplexed connection. One thread answers all its
/// slots' replies before it sends their next steps, and Redis answers a
/// batch before it reads the next, so the two would take turns; with two
/// groups, Redis runs one group's steps while the other group's replies are
/// handled.
const IO_THREADS: usize = 2;

/// One I/O thread: a current-thread runtime (Redis I/O and timers; tasks go
/// to the pool, but for the smallest, see INLINE_HASH_BYTES) running the
/// slots `mine` as tasks on one shared connection, until all have ended.
///
/// Unlike the pool's threads, it keeps the process's priority: each of its
/// wake-ups gates the steps of all its slots, and it does little CPU work
/// per job, so at a lower priority on a busy machine Redis would wait on it.
fn run_slots(config: Arc<Config>, mine: Vec<usize>, sink: Sink, stop: Arc<AtomicBool>, gate: Arc<Gate>) {
  let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
    Ok(rt) => rt,
    Err(e) => {
      for &slot in &mine {
        sink(Event::Error { slot, message: format!("internal error: could not start the worker's I/O runtime: {e}") });
        sink(Event::End { slot });
      }
      return;
    }
  };
  let link = std::rc::Rc::new(Link::new(&config.target));
  let tasks = tokio::task::LocalSet::new();
  // Workers that answer remote calls are woken by their callers (crate::wake).
  let bell = std::rc::Rc::new(super::wake::Bell::default());
  if config.jobs.values().any(|j| j.remote.is_some()) {
    let keys = Keys::new(&config.namespace);
    let channels = config.queues.iter().map(|q| keys.call_wake(q)).collect();
    tasks.spawn_local(super::wake::listen(config.target.url().to_string(), channels, std::rc::Rc::clone(&bell), Arc::clone(&stop)));
  }
  for &slot in &mine {
    let s = Slot {
      slot,
      config: Arc::clone(&config),
      sink: Arc::clone(&sink),
      stop: Arc::clone(&stop),
      token: format!("{:016x}", random_u64()),
      seq: Cell::new(0),
      gate: Arc::clone(&gate),
      polled: Cell::new(false),
      link: std::rc::Rc::clone(&link),
      bell: std::rc::Rc::clone(&bell),
    };
    let end = Arc::clone(&sink);
    tasks.spawn_local(async move {
      // A panic in a slot must still end it, or end() would wait forever.
      if tokio::task::spawn_local(s.run()).await.is_err() {
        end(Event::Error { slot, message: "internal error: a worker slot stopped after a panic".into() });
        end(Event::End { slot });
      }
    });
  }
  runtime.block_on(tasks);
}

struct Slot {
  slot: usize,
  config: Arc<Config>,
  sink: Sink,
  stop: Arc<AtomicBool>,
  /// Step ids (see STEP): a random token of this slot's and a sequence.
  token: String,
  seq: Cell<u64>,
  gate: Arc<Gate>,
  /// The first poll has been reported (Event::Ready).
  polled: Cell<bool>,
  link: std::rc::Rc<Link>,
  /// Rung when a remote call is queued (crate::wake).
  bell: std::rc::Rc<super::wake::Bell>,
}

/// A Redis failure: reconnect and carry on.
struct Disconnected(String);

impl From<redis::RedisError> for Disconnected {
  fn from(e: redis::RedisError) -> Self {
    Disconnected(e.to_string())
  }
}

impl Slot {
  fn name(&self) -> &str {
    &self.config.slots[self.slot]
  }
  fn queues(&self) -> String {
    self.config.queues.join(",")
  }
  fn stopped(&self) -> bool {
    self.stop.load(Ordering::Acquire)
  }

  /// Reports the slot's first poll once, then waits at the gate.
  async fn first_poll_done(&self) {
    if !self.polled.replace(true) {
      (self.sink)(Event::Ready { slot: self.slot });
      self.gate.wait().await;
    }
  }

  async fn sleep(&self, d: Duration) {
    self.nap(d, None).await
  }

  /// Sleeps `d`, or until the bell rang after `rung` (when given).
  async fn nap(&self, d: Duration, rung: Option<u64>) {
    let until = Instant::now() + d;
    while !self.stopped() {
      let left = until.saturating_duration_since(Instant::now());
      if left.is_zero() {
        break;
      }
      let chunk = left.min(Duration::from_millis(50));
      match rung {
        Some(seen) if self.bell.rings() != seen => break,
        Some(seen) => self.bell.wait(chunk, seen).await,
        None => tokio::time::sleep(chunk).await,
      }
    }
  }

  async fn run(self) {
    let keys = Keys::new(&self.config.namespace);
    let script = redis::Script::new(STEP);
    (self.sink)(Event::Start { slot: self.slot });
    let mut backoff = Duration::from_millis(100);
    // Once registered, the slot may hold a job (in its working-on key, and a
    // finished job's key output in memory until the next step acks it). A stop
    // during an outage therefore still reconnects a few times to finish and ack
    // it; if Redis stays away, the registration and the held job stay in Redis
    // for a surviving worker (or node-resque's Scheduler) to recover.
    let mut carry = Carry::default();
    let mut tries_after_stop = 0;
    loop {
      if self.stopped() {
        if !carry.registered || tries_after_stop == STOP_RETRIES {
          break;
        }
        tries_after_stop += 1;
      }
      let (n, mut con) = match self.link.get().await {
        Ok(c) => c,
        Err(e) => {
          (self.sink)(Event::Error { slot: self.slot, message: format!("Redis connection failed: {e}") });
          self.pause(backoff).await;
          backoff = (backoff * 2).min(MAX_BACKOFF);
          continue;
        }
      };
      let mut progressed = false;
      match self.serve(&mut con, &keys, &script, &mut carry, &mut progressed).await {
        Ok(()) => match self.untrack(&mut con, &keys).await {
          Ok(true) => break,
          // A job landed in the working-on key: serve again to run it (a
          // bounded number of times, see the top of the loop).
          Ok(false) => continue,
          Err(Disconnected(e)) => {
            self.link.broken(n).await;
            (self.sink)(Event::Error { slot: self.slot, message: format!("could not unregister worker: {e}") });
            break;
          }
        },
        Err(Disconnected(message)) => {
          self.link.broken(n).await;
          (self.sink)(Event::Error { slot: self.slot, message: format!("Redis connection lost: {message}") });
          // Back off further while nothing gets done (Redis refusing every
          // step), from the start again once a step went through.
          backoff = if progressed { Duration::from_millis(100) } else { (backoff * 2).min(MAX_BACKOFF) };
          self.pause(backoff).await;
        }
      }
    }
    (self.sink)(Event::End { slot: self.slot });
  }

  /// Sleeps `d`; once stopped, at most 200 ms (the slot is only finishing up).
  async fn pause(&self, d: Duration) {
    if self.stopped() {
      tokio::time::sleep(d.min(Duration::from_millis(200))).await;
    } else {
      self.sleep(d).await;
    }
  }

  /// Refreshes the worker's ping key, as node-resque's worker does, and its
  /// registration (crate::alive::refresh says why).
  async fn ping(&self, con: &mut Con) -> Result<(), Disconnected> {
    let keys = Keys::new(&self.config.namespace);
    let queues = self.queues();
    let mut pipe = redis::pipe();
    super::alive::refresh(&mut pipe, &keys, self.name(), &queues, payload::ping(self.name(), &queues, ping_seconds()));
    pipe.query_async::<()>(con).await?;
    Ok(())
  }

  async fn track(&self, con: &mut Con, keys: &Keys) -> Result<(), Disconnected> {
    let queues = self.queues();
    redis::pipe()
      .sadd(keys.workers(), format!("{}:{}", self.name(), queues))
      .ignore()
      .set(keys.started(self.name(), &queues), now_seconds())
      .ignore()
      .set(keys.ping(self.name()), payload::ping(self.name(), &queues, ping_seconds()))
      .ignore()
      .query_async::<()>(con)
      .await?;
    Ok(())
  }

  /// Unregisters the slot; false (and nothing done) if its working-on key
  /// holds a job meanwhile (one a late step claimed).
  async fn untrack(&self, con: &mut Con, keys: &Keys) -> Result<bool, Disconnected> {
    let (name, queues) = (self.name(), self.queues());
    let done: i64 = redis::Script::new(UNTRACK)
      .key(keys.workers())
      .key(keys.ping(name))
      .key(keys.working(name, &queues))
      .key(keys.started(name, &queues))
      .key(keys.worker_stat("failed", name))
      .key(keys.worker_stat("processed", name))
      .key(keys.own("cycle", name, &queues))
      .arg(format!("{name}:{queues}"))
      .invoke_async(con)
      .await?;
    Ok(done == 1)
  }

  async fn serve(
    &self,
    con: &mut Con,
    keys: &Keys,
    script: &redis::Script,
    carry: &mut Carry,
    progressed: &mut bool,
  ) -> Result<(), Disconnected> {
    self.track(con, keys).await?;
    carry.registered = true;
    let queues = self.queues();
    let working = keys.working(self.name(), &queues);
    let step_keys = StepKeys {
      working: working.clone(),
      processed: keys.stat("processed"),
      processed_mine: keys.worker_stat("processed", self.name()),
      cycle: keys.own("cycle", self.name(), &queues),
      queues: self.config.queues.iter().map(|q| keys.queue(q)).collect(),
    };
    let mut last_ping = Instant::now();
    // The working-on key is the record of what this slot holds: a job left
    // there (Redis went away before its ack landed, or an earlier process of
    // this name died holding it) runs again before anything new is claimed.
    let ack = &mut carry.unacked;
    // The first look of this process: a job held now was left by an earlier
    // process of this name; after a reconnect it is this process's own. (The
    // look counts once the resume is counted: a connection lost before that
    // looks again.)
    let fresh = !carry.looked;
    let left = if ack.is_some() {
      // The connection failed during the step that acked `ack`, which may or
      // may not have run. Sent again with its id, it is applied once either
      // way (see STEP), and its reply tells what the slot holds now.
      let claimed = self.step(con, script, &step_keys, ack, !self.stopped()).await?;
      *progressed = true;
      if let Some(claimed) = claimed {
        *ack = self.process(con, claimed).await?;
      }
      None
    } else {
      let left = redis::cmd("GET").arg(&working).query_async::<Option<Vec<u8>>>(con).await?;
      left.map(|v| (leftover(&v), v))
    };
    if let Some((parsed, left)) = left {
      self.first_poll_done().await;
      match parsed {
        Some(claimed) => {
          // Count the re-runs at start: a job that kills its worker (out of
          // memory, say) would otherwise crash-loop a worker whose name is
          // stable across restarts (a container's hostname and pid 1). The
          // count is per job (resume.lua, shared with the JS loop) and kept
          // outside node-resque's `worker:*` keys, which its tools read.
          let resumes = keys.own("resumes", self.name(), &queues);
          let n: u64 = if fresh { redis::Script::new(RESUME).key(&working).key(&resumes).invoke_async(con).await? } else { 0 };
          carry.looked = true;
          if n > MAX_RESUMES {
            let Claimed { queue, entry, record, .. } = claimed;
            let entry = entry.unwrap_or_else(|len| format!("(not UTF-8; {len} bytes)"));
            let error =
              Error::new(Code::Internal, format!("its worker stopped {n} times while running this job; not running it again"));
            self.fail(con, &queue, entry, &record, Code::Internal.as_str(), error, 0).await?;
          } else {
            *ack = self.process(con, claimed).await?;
          }
          if fresh {
            redis::cmd("DEL").arg(&resumes).query_async::<()>(con).await?;
          }
        }
        // Not a record this loop can re-run: filed, not dropped.
        None => self.fail(
          con,
          "",
          String::from_utf8_lossy(&left).into_owned(),
          &left,
          "InvalidPayload",
          Error::invalid("unreadable working-on value found when the worker started"),
          0,
        )
        .await?,
      }
    }
    carry.looked = true;
    loop {
      // A stopping slot still steps once with nothing to ack: the step
      // returns a job a late step may have claimed into its key.
      let stopping = self.stopped();
      if !stopping && last_ping.elapsed() >= self.config.ping {
        self.ping(con).await?;
        last_ping = Instant::now();
      }
      let rung = self.bell.rings();
      let claimed = self.step(con, script, &step_keys, ack, !stopping).await?;
      *progressed = true;
      self.first_poll_done().await;
      match claimed {
        None if stopping => return Ok(()),
        None => {
          (self.sink)(Event::Pause { slot: self.slot });
          self.nap(self.config.poll, Some(rung)).await;
        }
        Some(claimed) => *ack = self.process(con, claimed).await?,
      }
    }
  }

  /// Acks `ack` (if any; it is taken once the reply is in) and, when `claim`,
  /// claims the next entry: one round trip. If the connection fails here the
  /// ack may or may not have landed and `ack` keeps it; the working-on key,
  /// read again on reconnect, tells which (see serve).
  async fn step(&self, con: &mut Con, script: &redis::Script, k: &StepKeys, ack: &mut Option<Ack>, claim: bool) -> Result<Option<Claimed>, Disconnected> {
    // Twice at most: a step whose output Redis refused fails that job, then
    // claims; three times for a remote call's answer (see below).
    let cluster = self.config.target.is_cluster();
    let mut refused_once = false;
    loop {
      if cluster {
        // A remote call's reply list is under the namespace: the step pushes it.
        if let Some(Ack { output: Some(KeyOutput { key, bytes, ttl, gate: None }), .. }) = ack.as_ref() {
          let mut set = redis::cmd("SET");
          set.arg(key).arg(bytes.as_slice());
          if let Some(ttl) = ttl {
            set.arg("EX").arg(*ttl);
          }
          match set.query_async::<()>(con).await {
            Ok(()) => {}
            Err(e) if e.code().is_some_and(|c| !transient(c)) => {
              self.output_refused(con, ack, e).await?;
              continue;
            }
            Err(e) => return Err(e.into()),
          }
        }
      }
      let mut call = script.key(&k.working);
      call.key(&k.processed).key(&k.processed_mine).key(&k.cycle);
      for q in &k.queues {
        call.key(q);
      }
      let output = ack.as_ref().and_then(|a| a.output.as_ref());
      match (ack.is_some(), output) {
        (false, _) => call.arg("0").arg("").arg("").arg(""),
        (true, None) => call.arg("1").arg("").arg("").arg(""),
        // On a cluster a job's output is written above; the step only acks.
        (true, Some(o)) if cluster && o.gate.is_none() => call.arg("1").arg("").arg("").arg(""),
        (true, Some(o)) => call.arg(if o.gate.is_some() { "3" } else { "2" }).arg(&o.key).arg(o.bytes.as_slice()).arg(o.ttl.map(|t| t.to_string()).unwrap_or_default()),
      };
      // Claim 2: without looking up the input key, which on a cluster is in a slot of its own.
      let claiming = match (claim, cluster) {
        (false, _) => "0",
        (true, false) => "1",
        (true, true) => "2",
      };
      call.arg(claiming).arg(payload::js_date_string(now_seconds())).arg(self.name());
      call.arg(ack.as_ref().map_or(&[][..], |a| a.record.as_slice()));
      let id = match ack.as_mut() {
        Some(Ack { step: Some(id), .. }) => *id,
        other => {
          let id = self.seq.get() + 1;
          self.seq.set(id);
          if let Some(a) = other {
            a.step = Some(id);
          }
          id
        }
      };
      call.arg(format!("{}:{id:016}", self.token));
      call.arg(ack.as_ref().and_then(|a| a.output.as_ref()).and_then(|o| o.gate.as_deref()).unwrap_or(""));
      call.arg(STEP_INPUT_BYTES);
      for q in &self.config.queues {
        call.arg(q);
      }
      // Bytes, not String: an entry that is not UTF-8 must fail as a bad
      // payload, not as a Redis error that would retry it forever.
      let reply: Option<Vec<redis::Value>> = match call.invoke_async(con).await {
        Ok(reply) => reply,
        // Redis refused to store the output (an ACL, maxmemory...): that job
        // fails, as it does in the JS loop, instead of being re-run forever.
        // The output's write (the SET, or a remote call's RPUSH) is the
        // script's first (before the ack, a call's input DEL and step_done),
        // so the script did nothing else.
        // (On a cluster a job's output was written before the step, which
        // only acked; a refused step there is retried, as one without output.)
        Err(e) if e.code().is_some_and(|c| !transient(c)) && matches!(ack, Some(Ack { output: Some(o), .. }) if !cluster || o.gate.is_some()) => {
          // A remote call's answer: its caller is told with a small error
          // reply (once: if that is refused too, the job fails as above and
          // the caller waits out its timeout).
          if let Some(Ack { output: Some(o @ KeyOutput { gate: Some(_), .. }), result, .. }) = ack.as_mut() {
            if !refused_once {
              refused_once = true;
              (*result, o.bytes) = remote::refused(&o.bytes, &e.to_string());
              continue;
            }
          }
          self.output_refused(con, ack, e).await?;
          // The script did not run; claim now (with no ack this time).
          continue;
        }
        Err(e) => return Err(e.into()),
      };
      // `success` follows the ack, so a listener that reads Redis sees the job counted.
      if let Some(done) = ack.take() {
        self.succeeded(done);
      }
      let Some(reply) = reply else { return Ok(None) };
      let mut fields = reply.into_iter();
      let mut next = || fields.next().unwrap_or(redis::Value::Nil);
      let index: i64 = redis::from_redis_value(&next())?;
      if index < 0 {
        // The key already holds a job (a late step claimed it): run that one.
        let record: Vec<u8> = redis::from_redis_value(&next())?;
        return Ok(Some(held_job(record)));
      }
      let (entry, key, size, err, record, value): (Vec<u8>, Option<Vec<u8>>, Option<u64>, Option<String>, Vec<u8>, Option<Vec<u8>>) = (
        redis::from_redis_value(&next())?,
        redis::from_redis_value(&next())?,
        redis::from_redis_value(&next())?,
        redis::from_redis_value(&next())?,
        redis::from_redis_value(&next())?,
        redis::from_redis_value(&next())?,
      );
      let Some(queue) = usize::try_from(index).ok().and_then(|i| i.checked_sub(1)).and_then(|i| self.config.queues.get(i)) else {
        return Ok(None);
      };
      let input = key.map(|k| KeyInput { key: String::from_utf8_lossy(&k).into_owned(), size: err.map_or(Ok(size.unwrap_or(0)), Err), value });
      let entry = String::from_utf8(entry).map_err(|e| e.as_bytes().len());
      break Ok(Some(Claimed { queue: queue.clone(), entry, input, record }));
    }
  }

  /// Fails the job of `ack` (taken) whose key output Redis refused to
  /// store (out of memory, an ACL...: the server's fault, not the job's).
  async fn output_refused(&self, con: &mut Con, ack: &mut Option<Ack>, e: redis::RedisError) -> Result<(), Disconnected> {
    let Some(Ack { output: Some(KeyOutput { key, .. }), queue, entry, record, .. }) = ack.take() else { return Ok(()) };
    let error = Error::new(Code::RedisRejected, format!("Redis refused to store the output at key {key:?}: {e}"));
    self.fail(con, &queue, entry, &record, Code::RedisRejected.as_str(), error, 0).await
  }

  /// The `success` event of a job whose ack has landed, if JS listens now:
  /// the mask is read here, not when the job started, so a listener added
  /// while the job ran still gets its event.
  fn succeeded(&self, done: Ack) {
    if self.config.events.load(Ordering::Relaxed) & EMIT_SUCCESS != 0 {
      let Ack { queue, entry, result, duration_ms, .. } = done;
      (self.sink)(Event::Success { slot: self.slot, queue, payload: entry, result, duration_ms });
    }
  }

  /// Runs one claimed entry. A success is returned to be acked with the next
  /// step; a job failure is recorded (and acked) at once. Only a Redis failure
  /// is returned as an error.
  async fn process(&self, con: &mut Con, claimed: Claimed) -> Result<Option<Ack>, Disconnected> {
    let Claimed { queue, entry, input, record } = claimed;
    let (entry, utf8) = match entry {
      Ok(entry) => (entry, true),
      Err(len) => (format!("(not UTF-8; {len} bytes)"), false),
    };
    let started = Instant::now();
    let emit = self.config.events.load(Ordering::Relaxed);
    if emit & EMIT_JOB != 0 {
      (self.sink)(Event::Job { slot: self.slot, queue: queue.clone(), payload: entry.clone() });
    }
    // Failures carry node-resque's `exception`: InvalidPayload for entries that
    // are not jobs, Error for an unknown class, else rusque's error code.
    let parsed = if utf8 { payload::parse(&entry) } else { Err(payload::PayloadError("queue entry is not valid UTF-8".into())) };
    // The job's Retry plugin, if any: it sees the failures of a known class
    // (those the JS loop's perform would throw), as node-resque's afterPerform.
    let mut plugins: Option<(&Plugins, PluginJob)> = None;
    let outcome: Result<(Value, Option<KeyOutput>), (&str, Error)> = match parsed {
      Err(e) => Err(("InvalidPayload", Error::invalid(e.0))),
      Ok(p) => match self.config.jobs.get(&p.class) {
        None => Err(("Error", Error::invalid(format!("No job defined for class \"{}\"", p.class)))),
        Some(job) => {
          if job.plugins != Plugins::default() {
            let pj = PluginJob::new(&self.config.namespace, &p.class, &queue, &entry, &p.args);
            // Their beforePerform hooks, as node-resque runs them after `job`.
            if let Some(key) = &job.plugins.queue_lock {
              pj.unlock_queue(con, key).await?;
            }
            if let Some(lock) = &job.plugins.job_lock {
              if !pj.lock_job(con, lock, now_millis()).await? {
                return self.locked_out(con, lock, &pj, queue, entry, &record).await.map(|()| None);
              }
            }
            plugins = Some((&job.plugins, pj));
          }
          let ran = match job.spec(&p.args) {
            Err(e) => Err(e),
            Ok(spec) => self.execute(con, spec, input).await?,
          };
          match ran {
            // A remote call's failure is its answer: the caller gets the
            // error, and the job is done (not filed in `failed`).
            Err(e) => match job.call(&p.args) {
              Some(call) => Ok(call.answer(Err(e))).map(|(event, reply)| (event, Some(reply))),
              None => Err((e.code.as_str(), e)),
            },
            Ok(done) => Ok(done),
          }
        }
      },
    };
    let duration_ms = (started.elapsed().as_secs_f64() * 1000.0).round() as u64;
    // JobLock's afterPerform, success or failure.
    if let Some((Plugins { job_lock: Some(lock), .. }, pj)) = &plugins {
      pj.unlock_job(con, lock).await?;
    }
    let noop = plugins.as_ref().is_some_and(|(p, _)| p.noop);
    let retry = plugins.and_then(|(p, pj)| p.retry.as_ref().map(|r| (r, pj)));
    match outcome {
      Ok((result, output)) => {
        if let Some((_, job)) = &retry {
          job.cleanup(con).await?;
        }
        Ok(Some(Ack { output, record, queue, entry, result, duration_ms, step: None }))
      }
      // Noop: the error is logged and the job completes.
      Err((exception, error)) if noop => {
        let exception = exception.to_string();
        (self.sink)(Event::Noop { slot: self.slot, queue: queue.clone(), payload: entry.clone(), exception, error });
        Ok(Some(Ack { output: None, record, queue, entry, result: Value::Null, duration_ms, step: None }))
      }
      Err((exception, error)) => {
        if let Some((r, job)) = retry {
          self.retry(con, r, &job, (queue, entry), &record, (exception, error), duration_ms).await?;
        } else {
          self.fail(con, &queue, entry, &record, exception, error, duration_ms).await?;
        }
        Ok(None)
      }
    }
  }

  /// A job whose JobLock another worker holds: back to the delayed queue
  /// (unless reEnqueue is false), counted nowhere. Already delayed for that
  /// second, it fails as node-resque's enqueueAt makes it fail (node-resque
  /// then also deletes the other worker's lock; this does not).
  async fn locked_out(&self, con: &mut Con, lock: &JobLock, job: &PluginJob, queue: String, entry: String, held: &[u8]) -> Result<(), Disconnected> {
    let keys = Keys::new(&self.config.namespace);
    let working = keys.working(self.name(), &self.queues());
    let at_ms = lock.re_enqueue.then(|| now_millis() + lock.enqueue_timeout);
    if job.re_enqueue(con, DELAY, &self.config.namespace, &keys, self.name(), &working, held, at_ms, false).await? == ReEnqueued::Duplicate {
      let error = Error::invalid("Job already enqueued at this time with same arguments");
      return self.fail(con, &queue, entry, held, "Error", error, 0).await;
    }
    Ok(())
  }

  /// A failed job with the Retry plugin (crate::plugins says what node-resque
  /// does, and so this): counted, then delayed for another attempt, or, with
  /// none left (or already delayed for that second), failed as usual.
  #[allow(clippy::too_many_arguments)]
  async fn retry(
    &self,
    con: &mut Con,
    retry: &Retry,
    job: &PluginJob,
    (queue, entry): (String, String),
    held: &[u8],
    (exception, error): (&str, Error),
    duration_ms: u64,
  ) -> Result<(), Disconnected> {
    // String(err) of the RusqueError the JS loop's perform throws.
    let count = job.count_attempt(con, retry, &format!("RusqueError: {}", error.message), now_seconds()).await?;
    let remaining = retry.remaining(count);
    if remaining <= 0 {
      job.cleanup(con).await?;
      return self.fail(con, &queue, entry, held, exception, error, duration_ms).await;
    }
    let delay_ms = retry.next_delay(count);
    let at_ms = now_millis() + delay_ms;
    let keys = Keys::new(&self.config.namespace);
    let working = keys.working(self.name(), &self.queues());
    match job.re_enqueue(con, DELAY, &self.config.namespace, &keys, self.name(), &working, held, Some(at_ms), true).await? {
      ReEnqueued::Duplicate => return self.fail(con, &queue, entry, held, exception, error, duration_ms).await,
      ReEnqueued::Yes | ReEnqueued::NotHeld => {}
    }
    let exception = exception.to_string();
    (self.sink)(Event::ReEnqueue { slot: self.slot, queue: queue.clone(), payload: entry.clone(), delay_ms, remaining, exception, error });
    self.succeeded(Ack { output: None, record: Vec::new(), queue, entry, result: Value::Null, duration_ms, step: None });
    Ok(())
  }

  /// Files a job in `failed` (node-resque's record), clears the working-on key
  /// and counts it; then the `failure` event.
  /// Only while the working-on key holds the job's `held` record, as an ack:
  /// a step Redis ran late may have claimed another job into it.
  #[allow(clippy::too_many_arguments)]
  async fn fail(
    &self,
    con: &mut Con,
    queue: &str,
    entry: String,
    held: &[u8],
    exception: &str,
    error: Error,
    duration_ms: u64,
  ) -> Result<(), Disconnected> {
    let keys = Keys::new(&self.config.namespace);
    let name = self.name();
    let record = payload::failure(
      name,
      queue,
      &payload::unparsable(&entry),
      exception,
      &error.message,
      &payload::js_date_string(now_seconds()),
    );
    redis::Script::new(FAIL)
      .key(keys.working(name, &self.queues()))
      .key(keys.stat("failed"))
      .key(keys.worker_stat("failed", name))
      .key(keys.failed())
      .arg(held)
      .arg(record)
      .invoke_async::<()>(con)
      .await?;
    let exception = exception.to_string();
    (self.sink)(Event::Failure { slot: self.slot, queue: queue.to_string(), payload: entry, exception, error, duration_ms });
    Ok(())
  }

  /// Reads the input, runs the task and writes a path output. A key output is
  /// returned for the next step to write together with the ack.
  async fn execute(&self, con: &mut Con, spec: Spec, claimed: Option<KeyInput>) -> Result<Result<(Value, Option<KeyOutput>), Error>, Disconnected> {
    let input = match &spec.input {
      InputRef::Key(k) => {
        let read = match claimed {
          Some(KeyInput { key, size, value }) if &key == k => match size {
            Err(e) => KeyRead::Refused(e),
            // The step brought the value (one of at most STEP_INPUT_BYTES).
            Ok(size) if value.is_some() && size <= spec.max_input_bytes => KeyRead::Value(value),
            Ok(size) => self.get_key(con, k, size, spec.max_input_bytes).await?,
          },
          _ => self.read_key(con, k, spec.max_input_bytes).await?,
        };
        let value = match read.value(k, spec.max_input_bytes, READING_INPUT) {
          Ok(v) => v,
          Err(e) => return Ok(Err(e)),
        };
        match spec.key_input(k, value) {
          Ok(bytes) => bytes,
          Err(e) => return Ok(Err(e)),
        }
      }
      _ => match spec.local_input(&self.config.roots) {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return Ok(Err(e)),
        None => return Ok(Err(Error::internal("no input"))),
      },
    };
    let mut spec = spec;
    let mut keyed = Vec::new();
    for k in spec.overlay_keys() {
      match self.read_key(con, &k, spec.max_input_bytes).await?.value(&k, spec.max_input_bytes, READING_OVERLAY) {
        Ok(v) => keyed.push(v),
        Err(e) => return Ok(Err(e)),
      }
    }
    if let Err(e) = spec.read_overlays(&self.config.roots, keyed) {
      return Ok(Err(e));
    }
    let inline = match &spec.task {
      Task::Metadata => true,
      Task::Hash(_) => input.len() <= INLINE_HASH_BYTES,
      Task::Resize(_) => false,
    };
    let ran = if inline {
      pool::run_counted(&spec.task, &input, &Cancel::never())
    } else {
      // The CPU work goes to the pool; the slot only waits for it.
      let (tx, mut rx) = tokio::sync::oneshot::channel();
      let task = spec.task.clone();
      // A remote call's caller may give up (timeout, abort): it deletes the
      // call's input, which the slot looks for every CALL_CHECK meanwhile,
      // and the task stops at its next checkpoint.
      let gate = spec.reply_gate().map(str::to_string);
      let cancel = if gate.is_some() { Cancel::new() } else { Cancel::never() };
      pool::submit(task, input, cancel.clone(), move |result| {
        let _ = tx.send(result);
      });
      // Meanwhile it keeps the worker's ping fresh, so a long job (or one
      // queued behind others on a busy pool) is not taken for a dead worker's
      // and recovered while it still runs.
      // Pings keep their cadence (the time a ping takes is not added to it).
      let mut next = tokio::time::Instant::now() + self.config.ping;
      let mut check = tokio::time::Instant::now() + CALL_CHECK;
      loop {
        let wake = if gate.is_some() { next.min(check) } else { next };
        match tokio::time::timeout_at(wake, &mut rx).await {
          Ok(Ok(result)) => break result,
          Err(_elapsed) => {
            let now = tokio::time::Instant::now();
            if now >= next {
              self.ping(con).await?;
              next = (next + self.config.ping).max(tokio::time::Instant::now());
            }
            if let Some(key) = gate.as_deref().filter(|_| now >= check) {
              if !redis::cmd("EXISTS").arg(key).query_async::<bool>(con).await? {
                cancel.cancel();
              }
              check = tokio::time::Instant::now() + CALL_CHECK;
            }
          }
          Ok(Err(_dropped)) => break Err(Error::new(Code::Internal, "the pool dropped a job")),
        }
      }
    };
    Ok(ran.and_then(|output| spec.finish(output, &self.config.roots)))
  }

  /// A key's value, within `max` bytes: its size first, and the value only
  /// if it is within `max` bytes. (Two plain commands: a script returning
  /// the value would copy it twice more inside Redis. A value that grows in
  /// between is caught by Spec::key_input.)
  async fn read_key(&self, con: &mut Con, key: &str, max: u64) -> Result<KeyRead, Disconnected> {
    let size: u64 = match redis::cmd("STRLEN").arg(key).query_async(con).await {
      Ok(n) => n,
      Err(e) => return key_refused(e),
    };
    self.get_key(con, key, size, max).await
  }

  /// A key's value, given its size (the step's STRLEN or read_key's): not
  /// read when that is over `max` bytes; None when the key is absent.
  async fn get_key(&self, con: &mut Con, key: &str, size: u64, max: u64) -> Result<KeyRead, Disconnected> {
    if size > max {
      return Ok(KeyRead::TooLarge(size));
    }
    match redis::cmd("GET").arg(key).query_async::<Option<Vec<u8>>>(con).await {
      Ok(v) => Ok(KeyRead::Value(v)),
      Err(e) => key_refused(e),
    }
  }
}

/// A key read Redis answered with an error: the job's (Refused), unless the
/// connection failed.
fn key_refused(e: redis::RedisError) -> Result<KeyRead, Disconnected> {
  if e.code().is_some() {
    Ok(KeyRead::Refused(e.to_string()))
  } else {
    Err(Disconnected::from(e))
  }
}

/// What reading a key input found.
enum KeyRead {
  /// The value, or None: no such key.
  Value(Option<Vec<u8>>),
  /// Redis refused (WRONGTYPE: a key of another type).
  Refused(String),
  /// Its size, over the job's maxInputBytes: not read.
  TooLarge(u64),
}

/// How messages name what a key read was for: (reading, refused), as
/// lib/resque/native-job.js's INPUT and OVERLAY name them in the JS loop.
const READING_INPUT: (&str, &str) = ("input", "input key");
const READING_OVERLAY: (&str, &str) = ("a composite overlay", "composite overlay key");

impl KeyRead {
  /// The value of `key` (None: no such key), or the job's error: over
  /// `max` bytes, a key of another type (the job named the wrong key), or
  /// another refusal.
  fn value(self, key: &str, max: u64, (reading, refused): (&str, &str)) -> Result<Option<Vec<u8>>, Error> {
    match self {
      KeyRead::Value(v) => Ok(v),
      KeyRead::TooLarge(n) => Err(input_too_large(&format!("Redis key {key:?}"), n, max)),
      KeyRead::Refused(e) if e.starts_with("WRONGTYPE") => Err(Error::invalid(format!("cannot read {reading} from Redis key {key:?}: {e}"))),
      KeyRead::Refused(e) => Err(Error::new(Code::RedisRejected, format!("Redis refused to read {refused} {key:?}: {e}"))),
    }
  }
}

/// The keys one slot's step touches, built once.
struct StepKeys {
  working: String,
  processed: String,
  processed_mine: String,
  /// The step id key (`rusque:cycle`: a name kept from when the JS loop
  /// called its step a cycle, as the Redis layout is persisted).
  cycle: String,
  queues: Vec<String>,
}

/// Error replies that say "not now" rather than "never": Redis is loading,
/// busy with a script, a replica, or failing over. The step is retried (as
/// after a lost connection) instead of failing the job.
fn transient(code: &str) -> bool {
  matches!(code, "BUSY" | "LOADING" | "READONLY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" | "NOREPLICAS")
}

/// The job recorded in a working-on value (`{run_at, queue, payload, worker}`),
/// as the entry it was claimed from.
fn leftover(value: &[u8]) -> Option<Claimed> {
  let v: Value = payload::parse_json(std::str::from_utf8(value).ok()?).ok()?;
  let queue = v.get("queue")?.as_str()?.to_string();
  let entry = match v.get("payload")? {
    Value::String(s) => s.clone(),
    other => other.to_string(),
  };
  Some(Claimed { queue, entry: Ok(entry), input: None, record: value.to_vec() })
}

/// A working-on record found where a step would have claimed: the job it
/// records, or, if it records none, the record itself as an entry that will
/// fail as InvalidPayload (and be cleared).
fn held_job(record: Vec<u8>) -> Claimed {
  leftover(&record).unwrap_or_else(|| Claimed {
    queue: String::new(),
    entry: String::from_utf8(record.clone()).map_err(|e| e.as_bytes().len()),
    input: None,
    record,
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn transient_error_replies_are_retried_and_refusals_are_not() {
    for code in ["BUSY", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN"] {
      assert!(transient(code), "{code}");
    }
    for code in ["OOM", "NOPERM", "WRONGTYPE", "ERR"] {
      assert!(!transient(code), "{code}");
    }
  }
}
