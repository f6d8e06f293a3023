//! node-resque's standard plugins for native jobs in the Rust loop, writing
//! the Redis state node-resque's own plugin classes write for a JS job, so
//! that its Scheduler, its Queue and resque-web see the same thing.
//!
//! `Retry`, `Noop`, `JobLock`, `QueueLock` and `DelayQueueLock`, one plugin
//! per job; a job with more than one, a custom Plugin class, or an option
//! that is a function (but Noop's logger) runs in the JS loop, where
//! node-resque's classes run as they are. The plugin list and each plugin's
//! options are parsed here, once: the JS side passes the standard plugins'
//! names and options and asks [`Plugins::parse`] whether the Rust loop runs them.
//!
//! Noop, as node-resque's `Plugins.Noop`: a failed job is not failed; its
//! error is logged (JS calls the job's `pluginOptions.Noop.logger`, or
//! console.log, on the event the loop sends) and the job completes, counted
//! as processed, with a `success` event.
//!
//! Retry, as node-resque 9's `Plugins.Retry` does it when a job fails:
//! - counts the attempt in `<ns>:resque-retry:<class>:<argsKey>` (SETNX -1,
//!   INCR, EXPIRE: the expiry is the largest delay, in ms, used as seconds,
//!   exactly as node-resque sets it) and keeps the last error in
//!   `<ns>:failure-resque-retry:<class>:<argsKey>` (SETEX, same expiry);
//! - while attempts remain: puts the job in the delayed queue as
//!   `enqueueIn(delay)` does (`delayed:<s>` list, `timestamps:<entry>` set,
//!   `delayed_queue_schedule` zset), counts the attempt as failed and not as
//!   processed, clears the working-on key, and reports `reEnqueue` and then
//!   `success` (node-resque clears the error, so the job completes);
//! - when none remain: deletes both keys and fails the job as usual.
//!
//! A job that succeeds deletes both keys.
//!
//! JobLock, before the job runs: `SET <ns>:workerslock:<class>:<queue>:<args>
//! <now s + lockTimeout + 1> EX lockTimeout NX` (or its `key`); if another
//! worker holds it, the job is put in the delayed queue for `enqueueTimeout`
//! ms (unless `reEnqueue: false`) and leaves the working-on key, counted
//! nowhere, with no event but `job`; else it runs and the lock is deleted
//! after it, success or failure. QueueLock, before the job runs: deletes
//! `<ns>:lock:<class>:<queue>:<args>` (or its `key`), which its producer set.
//! DelayQueueLock acts only when a job is enqueued: nothing to do here.

use serde_json::value::RawValue;
use serde_json::Value;

use super::keys::Keys;
use super::link::Con;
use super::payload;
use rusque_core::error::{Error, Result};
use rusque_core::spec::describe;

/// The plugins the Rust loop runs itself, by node-resque's names.
pub const NATIVE: [&str; 5] = ["Retry", "Noop", "JobLock", "QueueLock", "DelayQueueLock"];

/// A job definition's plugins, as the Rust loop runs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plugins {
  pub retry: Option<Retry>,
  /// Failures are logged and the job completes (Noop).
  pub noop: bool,
  pub job_lock: Option<JobLock>,
  /// QueueLock: the lock key given in its options, if any.
  pub queue_lock: Option<Option<String>>,
}

/// node-resque's JobLock options, with its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct JobLock {
  /// Seconds the lock lasts (lockTimeout; 0 or absent: 3600).
  pub lock_timeout: u64,
  /// ms before a locked-out job runs again (enqueueTimeout; 0 or absent: 1001).
  pub enqueue_timeout: u64,
  /// Put a locked-out job in the delayed queue (reEnqueue; absent or null: true).
  pub re_enqueue: bool,
  /// The lock key instead of the job's own.
  pub key: Option<String>,
}

/// node-resque's Retry options, with its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
  /// Attempts in all (retryLimit; 0 or absent: 1).
  pub limit: u64,
  /// ms before the next attempt (retryDelay; 0 or absent: 5000).
  pub delay_ms: u64,
  /// ms before attempt n+1, by attempt (backoffStrategy); the last repeats.
  pub backoff: Vec<u64>,
}

impl Plugins {
  /// Parses `[[name, options], ...]` (JSON): node-resque's standard
  /// plugins of a job, each with an object of its options or null. None when
  /// the Rust loop does not run that list (a name not in [`NATIVE`], or more
  /// than one plugin: their hooks interleave): the JS loop runs it. Bad
  /// options of a plugin it runs are an error.
  pub fn parse(json: &str) -> Result<Option<Plugins>> {
    let list: Value = serde_json::from_str(json).map_err(|e| Error::invalid(format!("plugins must be JSON: {e}")))?;
    let Value::Array(list) = list else { return Err(Error::invalid(format!("plugins must be a list, got {}", describe(&list)))) };
    let mut out = Plugins::default();
    let [item] = list.as_slice() else { return Ok(if list.is_empty() { Some(out) } else { None }) };
    let (name, options) = match item.as_array().map(Vec::as_slice) {
      Some([Value::String(name), options]) => (name.as_str(), options),
      _ => return Err(Error::invalid(format!("each plugin must be [name, options], got {}", describe(item)))),
    };
    match name {
      "Retry" => out.retry = Some(Retry::parse(options)?),
      // Its one option, logger, is a function that JS keeps.
      "Noop" => out.noop = true,
      "JobLock" => {
        let m = option_map("JobLock", options, &["lockTimeout", "enqueueTimeout", "reEnqueue", "key"])?;
        let re_enqueue = match m.get("reEnqueue") {
          None | Some(Value::Null) => true,
          Some(Value::Bool(b)) => *b,
          Some(v) => return Err(Error::invalid(format!("pluginOptions.JobLock.reEnqueue must be true or false, got {}", describe(v)))),
        };
        out.job_lock = Some(JobLock {
          lock_timeout: whole("JobLock", &m, "lockTimeout")?.filter(|&n| n > 0).unwrap_or(3600),
          enqueue_timeout: whole("JobLock", &m, "enqueueTimeout")?.filter(|&n| n > 0).unwrap_or(1001),
          re_enqueue,
          key: lock_key("JobLock", &m)?,
        });
      }
      "QueueLock" => {
        let m = option_map("QueueLock", options, &["lockTimeout", "key"])?;
        whole("QueueLock", &m, "lockTimeout")?; // its producer's
        out.queue_lock = Some(lock_key("QueueLock", &m)?);
      }
      // Only its producer acts.
      "DelayQueueLock" => {}
      _ => return Ok(None),
    }
    Ok(Some(out))
  }
}

/// A plugin's options (null: none), with only the names it takes.
fn option_map(plugin: &str, options: &Value, names: &[&str]) -> Result<serde_json::Map<String, Value>> {
  let m = match options {
    Value::Null => serde_json::Map::new(),
    Value::Object(m) => m.clone(),
    v => return Err(Error::invalid(format!("pluginOptions.{plugin} must be an object of options, got {}", describe(v)))),
  };
  rusque_core::spec::check_keys(&format!("pluginOptions.{plugin}"), &m, names, &[])?;
  Ok(m)
}

/// A lock's `key` option: a string (a function keeps the job in the JS loop), or none.
fn lock_key(plugin: &str, m: &serde_json::Map<String, Value>) -> Result<Option<String>> {
  match m.get("key") {
    None | Some(Value::Null) => Ok(None),
    Some(Value::String(k)) if !k.is_empty() => Ok(Some(k.clone())),
    Some(v) => Err(Error::invalid(format!("pluginOptions.{plugin}.key must be a key name, got {}", describe(v)))),
  }
}

/// A whole number of ms, s or attempts (0 to 2^53), or None for absent/null.
fn whole(plugin: &str, options: &serde_json::Map<String, Value>, name: &str) -> Result<Option<u64>> {
  match options.get(name) {
    None | Some(Value::Null) => Ok(None),
    Some(v) => match v.as_f64() {
      Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0 => Ok(Some(f as u64)),
      _ => Err(Error::invalid(format!("pluginOptions.{plugin}.{name} must be a whole number >= 0, got {}", describe(v)))),
    },
  }
}

impl Retry {
  fn parse(options: &Value) -> Result<Retry> {
    let m = &option_map("Retry", options, &["retryLimit", "retryDelay", "backoffStrategy"])?;
    // node-resque replaces a falsy option (0 too) by its default.
    let limit = whole("Retry", m, "retryLimit")?.filter(|&n| n > 0).unwrap_or(1);
    let delay_ms = whole("Retry", m, "retryDelay")?.filter(|&n| n > 0).unwrap_or(5000);
    let backoff = match m.get("backoffStrategy") {
      None | Some(Value::Null) => Vec::new(),
      Some(Value::Array(a)) if !a.is_empty() => {
        let mut out = Vec::with_capacity(a.len());
        for v in a {
          match v.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0 => out.push(f as u64),
            _ => return Err(Error::invalid(format!("pluginOptions.Retry.backoffStrategy must hold whole numbers of ms >= 0, got {}", describe(v)))),
          }
        }
        out
      }
      Some(v) => return Err(Error::invalid(format!("pluginOptions.Retry.backoffStrategy must be a non-empty list of delays in ms, or null, got {}", describe(v)))),
    };
    Ok(Retry { limit, delay_ms, backoff })
  }

  /// The attempts left after the `count`th failure (counted from 0).
  pub fn remaining(&self, count: i64) -> i64 {
    (self.limit as i64).saturating_sub(count).saturating_sub(1)
  }

  /// The delay before the attempt after the `count`th failure.
  pub fn next_delay(&self, count: i64) -> u64 {
    match self.backoff.len() {
      0 => self.delay_ms,
      n => self.backoff[usize::try_from(count).unwrap_or(0).min(n - 1)],
    }
  }

  /// The retry keys' expiry: the largest delay (ms), which node-resque
  /// passes to EXPIRE and SETEX as seconds.
  pub fn expiry(&self) -> u64 {
    self.backoff.iter().copied().fold(self.delay_ms.max(1), u64::max)
  }
}

/// JavaScript's `\s` (and what String#trim removes).
fn js_space(c: char) -> bool {
  matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}')
}

/// node-resque's `connection.key(...parts)`: the parts that are not blank, joined by ':'.
fn resque_key(parts: &[&str]) -> String {
  parts.iter().filter(|p| !p.trim_matches(js_space).is_empty()).copied().collect::<Vec<_>>().join(":")
}

/// `s` without its first whitespace character (`.replace(/\s/, "")`).
fn without_first_space(s: String) -> String {
  match s.char_indices().find(|&(_, c)| js_space(c)) {
    Some((i, c)) => format!("{}{}", &s[..i], &s[i + c.len_utf8()..]),
    None => s,
  }
}

/// A job as its plugins see it: its args as node-resque would write them
/// again, and the keys its plugins keep.
pub struct PluginJob {
  /// The entry the delayed queue gets: `{"class","queue","args"}` in that order.
  item: String,
  args: String,
  retry_key: String,
  failure_key: String,
  class: String,
  queue: String,
  namespace: String,
}

/// What re-enqueueing did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReEnqueued {
  Yes,
  /// The same job is in the delayed queue for that second already:
  /// node-resque's enqueueAt refuses, and the job fails.
  Duplicate,
  /// The working-on key held another job: nothing changed.
  NotHeld,
}

impl PluginJob {
  /// `entry` is the queue entry, already known to parse as a job with
  /// `args` (see payload::parse). The args are taken as the entry wrote them
  /// (node-resque's producers write `JSON.stringify` text, which is what
  /// node-resque would write again); only when that text cannot be had are
  /// they written again from `args`.
  pub fn new(namespace: &str, class: &str, queue: &str, entry: &str, args: &[Value]) -> PluginJob {
    let (args_text, elements) = raw_args(entry).unwrap_or_else(|| {
      let els = args.iter().map(|v| v.to_string()).collect::<Vec<_>>();
      (format!("[{}]", els.join(",")), els)
    });
    // argsKey: objects as JSON, anything else as its String(), joined by '-'.
    let args_key = elements
      .iter()
      .map(|e| if e.starts_with('"') { serde_json::from_str::<String>(e).unwrap_or_else(|_| e.clone()) } else { e.clone() })
      .collect::<Vec<_>>()
      .join("-");
    let s = |v: &str| Value::String(v.to_string()).to_string();
    PluginJob {
      item: format!("{{\"class\":{},\"queue\":{},\"args\":{}}}", s(class), s(queue), args_text),
      args: args_text,
      retry_key: without_first_space(resque_key(&[namespace, "resque-retry", class, &args_key])),
      failure_key: without_first_space(resque_key(&[namespace, &format!("failure-resque-retry:{class}:{args_key}")])),
      class: class.to_string(),
      queue: queue.to_string(),
      namespace: namespace.to_string(),
    }
  }

  /// A lock's key: `custom`, else `<ns>:<what>:<class>:<queue>:<args as JSON>`.
  fn lock_key(&self, what: &str, custom: &Option<String>) -> String {
    custom.clone().unwrap_or_else(|| resque_key(&[&self.namespace, what, &self.class, &self.queue, &self.args]))
  }

  /// QueueLock before the job runs: its producer's lock goes.
  pub async fn unlock_queue(&self, con: &mut Con, key: &Option<String>) -> redis::RedisResult<()> {
    redis::cmd("DEL").arg(self.lock_key("lock", key)).query_async(con).await
  }

  /// JobLock before the job runs: takes the lock; false if another worker holds it.
  pub async fn lock_job(&self, con: &mut Con, lock: &JobLock, now_ms: u64) -> redis::RedisResult<bool> {
    let until = (now_ms + 500) / 1000 + lock.lock_timeout + 1;
    let set: Option<String> =
      redis::cmd("SET").arg(self.lock_key("workerslock", &lock.key)).arg(until).arg("EX").arg(lock.lock_timeout).arg("NX").query_async(con).await?;
    Ok(set.is_some())
  }

  /// JobLock after the job ran, success or failure.
  pub async fn unlock_job(&self, con: &mut Con, lock: &JobLock) -> redis::RedisResult<()> {
    redis::cmd("DEL").arg(self.lock_key("workerslock", &lock.key)).query_async(con).await
  }

  /// node-resque's last-error record, in its key order; `error` is
  /// String(err) of the error the JS loop would throw (`RusqueError: ...`).
  /// There is no JS stack, so the backtrace is empty.
  fn last_error(&self, error: &str, unix_seconds: u64) -> String {
    let s = |v: &str| Value::String(v.to_string()).to_string();
    let (y, mo, d, h, mi, se) = payload::civil(unix_seconds);
    let at = format!("{y}/{mo:02}/{d:02} {h:02}:{mi:02}:{se:02}");
    format!(
      "{{\"failed_at\":{},\"payload\":{},\"exception\":{},\"error\":{},\"backtrace\":[],\"worker\":{},\"queue\":{}}}",
      s(&at),
      self.args,
      s(error),
      s(error),
      s(&self.class),
      s(&self.queue)
    )
  }

  /// Counts a failed attempt and keeps its error (one MULTI); returns the
  /// count, from 0 for the first failure.
  pub async fn count_attempt(&self, con: &mut Con, retry: &Retry, error: &str, now: u64) -> redis::RedisResult<i64> {
    let ttl = retry.expiry();
    let (count,): (i64,) = redis::pipe()
      .atomic()
      .cmd("SETNX")
      .arg(&self.retry_key)
      .arg(-1)
      .ignore()
      .cmd("INCR")
      .arg(&self.retry_key)
      .cmd("EXPIRE")
      .arg(&self.retry_key)
      .arg(ttl)
      .ignore()
      .cmd("SETEX")
      .arg(&self.failure_key)
      .arg(ttl)
      .arg(self.last_error(error, now))
      .ignore()
      .query_async(con)
      .await?;
    Ok(count)
  }

  /// Deletes the attempt count and the last error (a success, or no attempt left).
  pub async fn cleanup(&self, con: &mut Con) -> redis::RedisResult<()> {
    redis::pipe().del(&self.retry_key).ignore().del(&self.failure_key).ignore().query_async(con).await
  }

  /// Puts the job in the delayed queue for `at_ms` (none: nowhere), counts
  /// it as failed if `count` and clears the working-on key `working`
  /// (lua/delay.lua, `script`), only while that key holds `held`.
  #[allow(clippy::too_many_arguments)]
  pub async fn re_enqueue(
    &self,
    con: &mut Con,
    script: &str,
    namespace: &str,
    keys: &Keys,
    worker: &str,
    working: &str,
    held: &[u8],
    at_ms: Option<u64>,
    count: bool,
  ) -> redis::RedisResult<ReEnqueued> {
    // Math.round(ms / 1000), as enqueueAt stores it.
    let at = at_ms.map_or(0, |ms| (ms + 500) / 1000);
    let ns_key = |k: &str| resque_key(&[namespace, k]);
    let done: i64 = redis::Script::new(script)
      .key(working)
      .key(keys.stat("processed"))
      .key(keys.worker_stat("processed", worker))
      .key(keys.stat("failed"))
      .key(keys.worker_stat("failed", worker))
      .key(ns_key(&format!("delayed:{at}")))
      .key(ns_key(&format!("timestamps:{}", self.item)))
      .key(ns_key("delayed_queue_schedule"))
      .arg(held)
      .arg(if at_ms.is_some() { self.item.as_str() } else { "" })
      .arg(at)
      .arg(if count { "1" } else { "0" })
      .invoke_async(con)
      .await?;
    Ok(match done {
      1 => ReEnqueued::Yes,
      -1 => ReEnqueued::Duplicate,
      _ => ReEnqueued::NotHeld,
    })
  }
}

/// The args of `entry` as written, and each argument's text.
fn raw_args(entry: &str) -> Option<(String, Vec<String>)> {
  #[derive(serde::Deserialize)]
  struct Entry<'a> {
    #[serde(borrow)]
    args: Option<&'a RawValue>,
  }
  let e: Entry = serde_json::from_str(entry).ok()?;
  let Some(args) = e.args.filter(|a| a.get() != "null") else { return Some(("[]".into(), Vec::new())) };
  match serde_json::from_str::<Vec<&RawValue>>(args.get()) {
    Ok(list) => Some((args.get().to_string(), list.iter().map(|v| v.get().to_string()).collect())),
    // Not an array: one argument (payload::parse), written back as one.
    Err(_) => Some((format!("[{}]", args.get()), vec![args.get().to_string()])),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn parses_retry_options_with_node_resques_defaults() {
    let retry = |json: &str| Plugins::parse(json).unwrap().unwrap().retry;
    assert_eq!(retry(r#"[["Retry",{"retryLimit":3,"retryDelay":100}]]"#), Some(Retry { limit: 3, delay_ms: 100, backoff: vec![] }));
    assert_eq!(retry(r#"[["Retry",null]]"#), Some(Retry { limit: 1, delay_ms: 5000, backoff: vec![] }));
    assert_eq!(retry(r#"[["Retry",{"retryLimit":0,"backoffStrategy":[10,20]}]]"#), Some(Retry { limit: 1, delay_ms: 5000, backoff: vec![10, 20] }));
    assert_eq!(Plugins::parse("[]").unwrap(), Some(Plugins::default()));
    assert_eq!(Plugins::parse(r#"[["Noop",{"logger":"function"}]]"#).unwrap(), Some(Plugins { noop: true, ..Default::default() }));
    assert_eq!(
      Plugins::parse(r#"[["JobLock",{"enqueueTimeout":100}]]"#).unwrap().unwrap().job_lock,
      Some(JobLock { lock_timeout: 3600, enqueue_timeout: 100, re_enqueue: true, key: None })
    );
    assert_eq!(Plugins::parse(r#"[["QueueLock",{"key":"k"}]]"#).unwrap().unwrap().queue_lock, Some(Some("k".to_string())));
    assert_eq!(Plugins::parse(r#"[["DelayQueueLock",null]]"#).unwrap(), Some(Plugins::default()));
    // Lists the JS loop runs: unknown plugins, and more than one.
    for js in [r#"[["Mine",{}]]"#, r#"[["Retry",{}],["Retry",{}]]"#, r#"[["Retry",{}],["Noop",null]]"#] {
      assert_eq!(Plugins::parse(js).unwrap(), None, "{js}");
    }
    for bad in [
      r#"[["Retry",{"retryLimit":-1}]]"#,
      r#"[["Retry",{"retryDelay":1.5}]]"#,
      r#"[["Retry",{"retrylimit":3}]]"#,
      r#"[["Retry",{"backoffStrategy":[]}]]"#,
      r#"[["Retry",{"backoffStrategy":["1"]}]]"#,
      r#"[["Retry",5]]"#,
      r#"[["JobLock",{"reEnqueue":"no"}]]"#,
      r#"[["JobLock",{"key":5}]]"#,
      r#"[["QueueLock",{"lockTimeout":-1}]]"#,
      r#"{"Retry":{}}"#,
      "[1]",
    ] {
      let e = Plugins::parse(bad).unwrap_err();
      assert_eq!(e.code, rusque_core::error::Code::InvalidArg, "{bad}");
    }
  }

  #[test]
  fn delays_and_expiry_follow_node_resque() {
    let r = Retry { limit: 3, delay_ms: 100, backoff: vec![] };
    assert_eq!((r.remaining(0), r.remaining(1), r.remaining(2)), (2, 1, 0));
    assert_eq!(r.next_delay(1), 100);
    assert_eq!(r.expiry(), 100);
    let r = Retry { limit: 5, delay_ms: 100, backoff: vec![10, 300, 20] };
    assert_eq!((0..5).map(|c| r.next_delay(c)).collect::<Vec<_>>(), vec![10, 300, 20, 20, 20]);
    assert_eq!(r.expiry(), 300);
  }

  #[test]
  fn keys_and_entries_are_written_as_node_resque_writes_them() {
    let entry = r#"{"class":"thumb","queue":"q","args":[{"input":{"key":"in"},"width":10},2,"a b",null,true]}"#;
    let j = PluginJob::new("ns", "thumb", "q", entry, &[]);
    assert_eq!(j.item, r#"{"class":"thumb","queue":"q","args":[{"input":{"key":"in"},"width":10},2,"a b",null,true]}"#);
    // The first whitespace goes, as .replace(/\s/, "") does.
    assert_eq!(j.retry_key, r#"ns:resque-retry:thumb:{"input":{"key":"in"},"width":10}-2-ab-null-true"#);
    assert_eq!(j.failure_key, r#"ns:failure-resque-retry:thumb:{"input":{"key":"in"},"width":10}-2-ab-null-true"#);
    let none = PluginJob::new("ns", "c", "q", r#"{"class":"c","queue":"q","args":[]}"#, &[]);
    assert_eq!((none.retry_key.as_str(), none.failure_key.as_str()), ("ns:resque-retry:c", "ns:failure-resque-retry:c:"));
    assert_eq!(none.item, r#"{"class":"c","queue":"q","args":[]}"#);
    assert_eq!(j.lock_key("workerslock", &None), r#"ns:workerslock:thumb:q:[{"input":{"key":"in"},"width":10},2,"a b",null,true]"#);
    assert_eq!(none.lock_key("lock", &Some("mine".into())), "mine");
    let e: Value = serde_json::from_str(&j.last_error("RusqueError: boom", 1_795_757_400)).unwrap();
    assert_eq!(e["failed_at"], "2026/11/27 05:30:00");
    assert_eq!(e["error"], "RusqueError: boom");
    assert_eq!(e["worker"], "thumb");
    assert_eq!(e["payload"][1], 2);
  }
}
