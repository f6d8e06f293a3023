//! Proof of life from a thread of the worker process's own.
//!
//! A resque worker is judged alive by its ping key (`<ns>:worker:ping:<name>`),
//! which survivors (our recovery, node-resque's Scheduler) read: a ping older
//! than their limit means the process is gone, and its job is taken over. The
//! JS loop's jobs run on the JS thread, so a job that keeps that thread busy
//! for seconds (the CPU work this package exists for) would stop pings written
//! from it, and the job would be run again elsewhere while it still runs.
//!
//! A [`Heartbeat`] pings from its own OS thread, on its own blocking
//! connection, so a busy JS thread is not a dead process; only a process that
//! is really gone (killed, crashed) stops pinging. Beside node-resque's fields
//! each ping carries the JS thread's lag (see [`payload::ping_alive`]): the
//! thread the worker's jobs run on checks in ([`Heartbeat::touch`]) on a
//! timer, and the lag is how far that check-in is overdue.
//!
//! The Rust loop's slots (crate::worker) ping from their own threads already;
//! [`refresh`] is the one definition of what a ping writes, for both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusque_core::error::{Code, Error};

use crate::keys::Keys;
use crate::link::{self, Target};
use crate::payload;
use crate::worker::ping_seconds;

/// Appends to `pipe` what says one registered worker is alive: its ping key
/// (`ping`, a value from [`payload::ping`] or [`payload::ping_alive`]) and
/// its entry in `<ns>:workers`. The entry is re-added on every ping: a stall
/// long enough for a survivor to recover the worker (which unregisters it)
/// must not leave it claiming jobs unseen, where a later crash would strand them.
pub fn refresh(pipe: &mut redis::Pipeline, keys: &Keys, name: &str, queues: &str, ping: String) {
  pipe.set(keys.ping(name), ping).ignore().sadd(keys.workers(), format!("{name}:{queues}")).ignore();
}

#[derive(Debug, Clone)]
pub struct Config {
  /// One server or a Redis Cluster (crate::link).
  pub target: Target,
  /// node-resque's namespace, joined (see [`Keys`]).
  pub namespace: String,
  /// The ioredis `keyPrefix` of the worker's client, put before every key ("" for none).
  pub key_prefix: String,
  /// The registered worker names (one per slot) this process pings for.
  pub slots: Vec<String>,
  /// Their registered queue list (`a,b`, or `*`).
  pub queues: String,
  /// How often to ping (node-resque's `timeout`).
  pub every: Duration,
  /// How often the JS thread checks in: lag is counted past this.
  pub check_in: Duration,
  /// The value the caller's own first ping left in the first slot's ping key.
  /// Read back on connect: a URL that reaches another server or database is
  /// refused ([`Heartbeat::start`] fails) rather than pinging where nobody looks.
  pub expect: Option<String>,
}

/// What the thread did since it was last asked ([`Heartbeat::news`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct News {
  /// The time (unix seconds) of the last ping written, 0 before the first.
  pub pinged: u64,
  /// How many pings were written (one for all slots).
  pub pings: u64,
  /// The last failure since the previous call, if any.
  pub error: Option<Error>,
}

struct Shared {
  origin: Instant,
  /// Milliseconds after `origin` of the last check-in.
  touched: AtomicU64,
  check_in: Duration,
  stopped: Mutex<bool>,
  wake: Condvar,
  news: Mutex<News>,
}

impl Shared {
  fn since_origin(&self) -> u64 {
    u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
  }

  fn lag(&self) -> Duration {
    let since = self.since_origin().saturating_sub(self.touched.load(Ordering::Relaxed));
    Duration::from_millis(since).saturating_sub(self.check_in)
  }

  fn stopped(&self) -> bool {
    *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// Sleeps `d` unless stopped first; true when stopped.
  fn sleep(&self, d: Duration) -> bool {
    let until = Instant::now() + d;
    let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
    while !*stopped {
      let left = until.saturating_duration_since(Instant::now());
      if left.is_zero() {
        return false;
      }
      stopped = self.wake.wait_timeout(stopped, left).unwrap_or_else(|p| p.into_inner()).0;
    }
    true
  }

  fn stop(&self) {
    *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
    self.wake.notify_all();
  }

  fn note(&self, f: impl FnOnce(&mut News)) {
    f(&mut self.news.lock().unwrap_or_else(|p| p.into_inner()));
  }
}

/// A running ping thread. Dropping it stops the thread without waiting;
/// [`Heartbeat::stop`] waits until no ping can land any more.
pub struct Heartbeat {
  shared: Arc<Shared>,
  thread: Mutex<Option<JoinHandle<()>>>,
}

/// How soon a failed ping (or connection) is tried again.
const RETRY: Duration = Duration::from_millis(100);
/// How long one ping may wait for Redis at least (a ping slower than its
/// interval is a failed one). Connecting may take 5 s (crate::link).
const MIN_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The ping thread's connection name (CLIENT SETNAME).
pub const CLIENT_NAME: &str = "rusque-alive";

/// The ping thread's connection (to one server, or a cluster).
type Connection = Box<dyn redis::ConnectionLike + Send>;

fn connect(config: &Config) -> Result<Connection, Error> {
  let unreachable = |e: redis::RedisError| Error::new(Code::RedisUnreachable, format!("the worker's ping thread cannot reach Redis: {e}"));
  let mut con = link::blocking(&config.target, config.every.max(MIN_IO_TIMEOUT)).map_err(unreachable)?;
  // Named, so that CLIENT LIST shows which connection is the ping thread. A
  // server or proxy that refuses the name is no reason not to ping. (On a
  // cluster the name would go to one node of several: not sent.)
  if !config.target.is_cluster() {
    let _ = redis::cmd("CLIENT").arg("SETNAME").arg(CLIENT_NAME).query::<()>(&mut *con);
  }
  Ok(con)
}

/// A Redis failure as the catalogue's code: a reply is a refusal, anything else unreachable.
fn redis_error(e: redis::RedisError) -> Error {
  let code = if e.code().is_some() { Code::RedisRejected } else { Code::RedisUnreachable };
  Error::new(code, format!("the worker's ping thread could not ping: {e}"))
}

impl Heartbeat {
  /// Connects, checks [`Config::expect`], and starts the thread, whose first
  /// ping follows one `every` later (the caller has just pinged). Blocks for
  /// the connection (at most a few seconds): call it off the JS thread.
  pub fn start(config: Config) -> Result<Heartbeat, Error> {
    if config.slots.is_empty() {
      return Err(Error::invalid("a heartbeat needs at least one worker name"));
    }
    let keys = Keys::prefixed(&config.key_prefix, &config.namespace);
    let mut con = connect(&config)?;
    if let Some(expect) = &config.expect {
      let key = keys.ping(&config.slots[0]);
      let found: Option<String> = redis::cmd("GET").arg(&key).query(&mut *con).map_err(redis_error)?;
      if found.as_deref() != Some(expect.as_str()) {
        return Err(Error::invalid(format!(
          "the worker's ping thread connected to {} but does not find the worker's ping at {key:?} there: its connection options reach another server or database",
          redacted(config.target.url())
        )));
      }
    }
    let shared = Arc::new(Shared {
      origin: Instant::now(),
      touched: AtomicU64::new(0),
      check_in: config.check_in,
      stopped: Mutex::new(false),
      wake: Condvar::new(),
      news: Mutex::new(News::default()),
    });
    let beat = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
      .name("rusque-alive".into())
      .spawn(move || run(&beat, &config, &keys, con))
      .map_err(|e| Error::internal(format!("could not start the worker's ping thread: {e}")))?;
    Ok(Heartbeat { shared, thread: Mutex::new(Some(thread)) })
  }

  /// The JS thread checks in: it is not blocked right now.
  pub fn touch(&self) {
    self.shared.touched.store(self.shared.since_origin(), Ordering::Relaxed);
  }

  /// How far the last check-in is overdue (zero while the JS thread keeps up).
  pub fn lag(&self) -> Duration {
    self.shared.lag()
  }

  /// The last ping's time, and the last failure since the previous call.
  pub fn news(&self) -> News {
    let mut news = self.shared.news.lock().unwrap_or_else(|p| p.into_inner());
    News { pinged: news.pinged, pings: news.pings, error: news.error.take() }
  }

  /// Stops the thread and waits for it: once this returns no ping of this
  /// heartbeat can land (the caller may unregister the worker). Waits at most
  /// for one ping in flight (its I/O timeout).
  pub fn stop(&self) {
    self.shared.stop();
    let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(t) = thread {
      let _ = t.join();
    }
  }
}

impl Drop for Heartbeat {
  fn drop(&mut self) {
    self.shared.stop();
  }
}

fn run(shared: &Shared, config: &Config, keys: &Keys, con: Connection) {
  let mut link = Some(con);
  // A timeout of 0 (setInterval's minimum is 1 ms) must not spin.
  let every = config.every.max(Duration::from_millis(1));
  // After a failure the next try comes sooner, so that a worker is back in
  // its peers' eyes within moments of Redis returning, as ioredis resends a
  // JS ping queued while it reconnected: a peer judging pings after an
  // outage waits one staleAfter, not one ping period more.
  let retry = every.min(RETRY);
  let mut wait = every;
  while !shared.sleep(wait) {
    wait = retry;
    if link.is_none() {
      match connect(config) {
        Ok(c) => link = Some(c),
        Err(e) => {
          shared.note(|n| n.error = Some(e));
          continue;
        }
      }
    }
    let Some(con) = link.as_mut() else { continue };
    let now = ping_seconds();
    let lag = u64::try_from(shared.lag().as_millis()).unwrap_or(u64::MAX);
    let mut pipe = redis::pipe();
    for name in &config.slots {
      refresh(&mut pipe, keys, name, &config.queues, payload::ping_alive(name, &config.queues, now, lag));
    }
    // A stop between the sleep and here must not ping (stop() waits for this thread).
    if shared.stopped() {
      break;
    }
    // redis-rs's blocking cluster connection takes no pipelines: there the
    // commands go one by one (all in the namespace's slot, on one node).
    let sent = if con.supports_pipelining() { pipe.query::<()>(&mut **con) } else { pipe.cmd_iter().try_for_each(|c| c.query::<()>(&mut **con)) };
    match sent {
      Ok(()) => {
        wait = every;
        shared.note(|n| {
          n.pinged = now;
          n.pings += 1;
        })
      }
      Err(e) => {
        // An error reply leaves the connection usable; anything else, a new one next time.
        let broken = e.code().is_none();
        shared.note(|n| n.error = Some(redis_error(e)));
        if broken {
          link = None;
        }
      }
    }
  }
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
  match (url.find("://"), url.rfind('@')) {
    (Some(s), Some(at)) if at > s => format!("{}://{}", &url[..s], &url[at + 1..]),
    _ => url.to_string(),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn shared(check_in: u64) -> Shared {
    Shared {
      origin: Instant::now(),
      touched: AtomicU64::new(0),
      check_in: Duration::from_millis(check_in),
      stopped: Mutex::new(false),
      wake: Condvar::new(),
      news: Mutex::new(News::default()),
    }
  }

  #[test]
  fn lag_counts_only_past_the_check_in_period() {
    let s = shared(1000);
    assert_eq!(s.lag(), Duration::ZERO);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(s.lag(), Duration::ZERO, "within the period a missing check-in is no lag");
    let s = shared(10);
    std::thread::sleep(Duration::from_millis(60));
    assert!(s.lag() >= Duration::from_millis(40), "{:?}", s.lag());
    s.touched.store(s.since_origin(), Ordering::Relaxed);
    assert_eq!(s.lag(), Duration::ZERO, "a check-in clears the lag");
  }

  #[test]
  fn a_stopped_heartbeat_wakes_at_once() {
    let s = Arc::new(shared(10));
    let t = {
      let s = Arc::clone(&s);
      std::thread::spawn(move || s.sleep(Duration::from_secs(60)))
    };
    std::thread::sleep(Duration::from_millis(20));
    s.stop();
    assert!(t.join().unwrap(), "sleep reports the stop");
  }

  #[test]
  fn messages_do_not_carry_the_password() {
    assert_eq!(redacted("redis://u:secret@host:1/0"), "redis://host:1/0");
    assert_eq!(redacted("redis://host:1/0"), "redis://host:1/0");
  }

  #[test]
  fn a_ping_keeps_node_resques_fields_and_adds_the_lag() {
    let v: serde_json::Value = serde_json::from_str(&payload::ping_alive("h:1", "a,b", 1_700_000_000, 7012)).unwrap();
    assert_eq!(v["time"], 1_700_000_000);
    assert_eq!(v["name"], "h:1");
    assert_eq!(v["queues"], "a,b");
    assert_eq!(v["rusque"]["lag"], 7012);
  }
}
