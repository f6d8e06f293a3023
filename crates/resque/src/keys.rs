//! Redis key names, byte-compatible with node-resque and resque, and which
//! keys a native job may name for its input and output.

use rusque_core::error::{Code, Error, Result};

#[derive(Debug, Clone)]
pub struct Keys {
  namespace: String,
}

impl Keys {
  pub fn new(namespace: &str) -> Self {
    Keys { namespace: namespace.to_string() }
  }
  fn key(&self, parts: &[&str]) -> String {
    let mut k = self.namespace.clone();
    for p in parts {
      k.push(':');
      k.push_str(p);
    }
    k
  }
  pub fn queue(&self, q: &str) -> String {
    self.key(&["queue", q])
  }
  pub fn workers(&self) -> String {
    self.key(&["workers"])
  }
  /// The working-on key of one worker: `<ns>:worker:<name>:<queues>`.
  pub fn working(&self, name: &str, queues: &str) -> String {
    self.key(&["worker", name, queues])
  }
  pub fn started(&self, name: &str, queues: &str) -> String {
    self.key(&["worker", name, queues, "started"])
  }
  pub fn ping(&self, name: &str) -> String {
    self.key(&["worker", "ping", name])
  }
  pub fn stat(&self, which: &str) -> String {
    self.key(&["stat", which])
  }
  pub fn worker_stat(&self, which: &str, name: &str) -> String {
    self.key(&["stat", which, name])
  }
  pub fn failed(&self) -> String {
    self.key(&["failed"])
  }
  /// rusque's own per-worker keys, beside node-resque's (which its tools read):
  /// `<ns>:rusque:<what>:<name>:<queues>`.
  pub fn own(&self, what: &str, name: &str, queues: &str) -> String {
    self.key(&["rusque", what, name, queues])
  }
}

/// Which Redis keys native jobs may read (`input.key`) and write
/// (`output.key`). Never the queue's own (`<namespace>:*`: queues, stats,
/// the failed list, workers): a job writing there could destroy other jobs or
/// hide failures. An operator may confine them further to some prefixes (the
/// Worker's `keys: { prefix }` option).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
  /// `<namespace>:`, or empty for an empty namespace.
  own: String,
  prefixes: Vec<String>,
}

impl KeyPolicy {
  pub fn new(namespace: &str, prefixes: Vec<String>) -> Self {
    let own = if namespace.is_empty() { String::new() } else { format!("{namespace}:") };
    KeyPolicy { own, prefixes }
  }

  /// Whether `key` is one of the queue's own: under `<namespace>:`, or, with
  /// an empty namespace (the layout then starts at the top), one of the
  /// layout's names (resque's, node-resque's plugins', rusque's).
  fn is_own(&self, key: &str) -> bool {
    if !self.own.is_empty() {
      return key.starts_with(&self.own);
    }
    const NAMES: [&str; 6] = ["queues", "failed", "workers", "stat", "delayed_queue_schedule", "rusque"];
    const PREFIXES: [&str; 11] = ["queue:", "stat:", "worker:", "delayed:", "timestamps:", "lock:", "workerslock:", "rusque:", "failed:", "resque-retry:", "failure-resque-retry:"];
    NAMES.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
  }

  /// Ok if a job may use `key` as its `role` ("input" or "output") key.
  pub fn check(&self, key: &str, role: &str) -> Result<()> {
    if self.is_own(key) {
      let why = if self.own.is_empty() {
        "with an empty namespace it is one of the queue's own names (queues, stats, failed jobs, workers, locks); use a key outside resque's layout, or a keys prefix".to_string()
      } else {
        format!("keys starting with {:?} are the queue's own (queues, stats, failed jobs, workers); use a key outside the namespace", self.own)
      };
      return Err(Error::new(Code::KeyRefused, format!("{role} key {key:?} refused: {why}")));
    }
    if !self.prefixes.is_empty() && !self.prefixes.iter().any(|p| key.starts_with(p.as_str())) {
      let allowed: Vec<String> = self.prefixes.iter().map(|p| format!("{p:?}")).collect();
      return Err(Error::new(
        Code::KeyRefused,
        format!("{role} key {key:?} refused: this Worker's keys option allows only keys starting with {}", allowed.join(" or ")),
      ));
    }
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn jobs_may_not_name_the_namespaces_keys_and_stay_under_the_prefixes() {
    let open = KeyPolicy::new("resque", vec![]);
    assert!(open.check("img:1", "output").is_ok());
    assert!(open.check("resquex:1", "output").is_ok());
    for k in ["resque:queue:q", "resque:stat:failed", "resque:failed", "resque:"] {
      let e = open.check(k, "output").unwrap_err();
      assert_eq!(e.code, Code::KeyRefused);
      assert!(e.message.contains("output key") && e.message.contains("queue's own"), "{}", e.message);
    }
    let confined = KeyPolicy::new("a:b", vec!["img:".into(), "thumb:".into()]);
    assert!(confined.check("thumb:9", "input").is_ok());
    assert_eq!(confined.check("other:9", "input").unwrap_err().code, Code::KeyRefused);
    assert_eq!(confined.check("a:b:queue:x", "input").unwrap_err().code, Code::KeyRefused);
    // With an empty namespace the layout starts at the top: its names are refused, others pass.
    let top = KeyPolicy::new("", vec![]);
    for k in ["queue:x", "queues", "failed", "stat:processed", "workers", "worker:ping:w", "rusque:cycle:w:q", "delayed:1", "lock:j"] {
      assert_eq!(top.check(k, "output").unwrap_err().code, Code::KeyRefused, "{k}");
    }
    assert!(top.check("img:1", "output").is_ok());
    assert!(top.check("queued-thumbs", "output").is_ok());
  }

  #[test]
  fn node_resque_layout() {
    let k = Keys::new("resque");
    assert_eq!(k.queue("images"), "resque:queue:images");
    assert_eq!(k.working("host:1", "a,b"), "resque:worker:host:1:a,b");
    assert_eq!(k.started("host:1", "a,b"), "resque:worker:host:1:a,b:started");
    assert_eq!(k.ping("host:1"), "resque:worker:ping:host:1");
    assert_eq!(k.worker_stat("processed", "host:1"), "resque:stat:processed:host:1");
    assert_eq!(k.failed(), "resque:failed");
    assert_eq!(k.own("cycle", "host:1", "a,b"), "resque:rusque:cycle:host:1:a,b");
  }
}
