//! Redis key names, byte-compatible with node-resque and resque, and which
//! keys a native job may name for its input and output.

use rusque_core::error::{Code, Error, Result};

/// Builds key names as node-resque's `connection.key(...parts)` does: the
/// namespace and the parts joined with ':', each blank part (empty or only
/// whitespace, by JS's `trim()`) left out. So an empty namespace gives
/// `worker:x`, not `:worker:x`, and a namespace given as `resque:` gives
/// `resque::worker:x`, as node-resque writes it. An ioredis `keyPrefix` is
/// put before the whole name verbatim (no ':' added), as ioredis does.
#[derive(Debug, Clone)]
pub struct Keys {
  /// Everything before the first part: the key prefix, then the namespace and ':' (none for a blank namespace).
  head: String,
}

/// Whether node-resque leaves `part` out of a key: `String(part).trim()` is
/// empty. JS's whitespace (WhiteSpace and LineTerminator), which differs
/// from Rust's `char::is_whitespace` (U+FEFF is JS whitespace, U+0085 is not).
fn blank(part: &str) -> bool {
  part.chars().all(|c| {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}')
  })
}

impl Keys {
  /// node-resque's layout under `namespace` (the joined namespace; blank: none).
  pub fn new(namespace: &str) -> Self {
    Self::prefixed("", namespace)
  }

  /// The same layout as seen through an ioredis client with `key_prefix`.
  pub fn prefixed(key_prefix: &str, namespace: &str) -> Self {
    let mut head = key_prefix.to_string();
    if !blank(namespace) {
      head.push_str(namespace);
      head.push(':');
    }
    Keys { head }
  }

  /// What every key of the layout starts with (`<prefix><namespace>:`, or just the prefix for a blank namespace).
  pub fn head(&self) -> &str {
    &self.head
  }

  /// The Redis Cluster hash tag every key of the layout shares, from its
  /// head; or ERR_INVALID_ARG saying why there is none. Redis hashes only
  /// what is between a key's first `{` and the first `}` after it, when
  /// that is not empty: both must be in the head, or keys of the layout
  /// land in different slots, and no script could touch them together.
  pub fn cluster_tag(&self) -> Result<&str> {
    let tag = self.head.find('{').and_then(|open| {
      let rest = &self.head[open + 1..];
      rest.find('}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    tag.ok_or_else(|| {
      Error::invalid(format!(
        "on a Redis Cluster the namespace must carry a hash tag, so that every key of the queue (queues, \
         working-on keys, stats, locks) is in one slot and its scripts can run: use e.g. namespace '{{resque}}' \
         instead of {:?} (keys start with {:?})",
        self.head.strip_suffix(':').unwrap_or(&self.head),
        self.head
      ))
    })
  }

  fn key(&self, parts: &[&str]) -> String {
    let mut k = self.head.clone();
    let mut first = true;
    for p in parts.iter().filter(|p| !blank(p)) {
      if !first {
        k.push(':');
      }
      k.push_str(p);
      first = false;
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
  /// A remote call's input bytes: `<ns>:rusque:call:<id>` (crate::remote).
  pub fn call_input(&self, id: &str) -> String {
    self.key(&["rusque", "call", id])
  }
  /// The channel a remote caller publishes on after queueing a call on
  /// `queue`, to wake idle slots: `<ns>:rusque:wake:<queue>` (crate::wake).
  pub fn call_wake(&self, queue: &str) -> String {
    self.key(&["rusque", "wake", queue])
  }
  /// A remote caller's reply list: `<ns>:rusque:reply:<caller>` (crate::remote).
  pub fn call_reply(&self, caller: &str) -> String {
    self.key(&["rusque", "reply", caller])
  }
}

/// Which Redis keys native jobs may read (`input.key`) and write
/// (`output.key`). Never the queue's own (`<namespace>:*`: queues, stats,
/// the failed list, workers): a job writing there could destroy other jobs or
/// hide failures. An operator may confine them further to some prefixes (the
/// Worker's `keys: { prefix }` option).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
  /// `<namespace>:`, or empty for a blank namespace (as [`Keys::head`]).
  own: String,
  prefixes: Vec<String>,
}

impl KeyPolicy {
  pub fn new(namespace: &str, prefixes: Vec<String>) -> Self {
    KeyPolicy { own: Keys::new(namespace).head, prefixes }
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

  #[test]
  fn a_cluster_namespace_carries_a_hash_tag_in_its_head() {
    assert_eq!(Keys::new("{resque}").cluster_tag().unwrap(), "resque");
    assert_eq!(Keys::new("app:{jobs}:resque").cluster_tag().unwrap(), "jobs");
    // The first '{' decides, and its first '}': "{a{b}" hashes "a{b".
    assert_eq!(Keys::new("{a{b}").cluster_tag().unwrap(), "a{b");
    assert_eq!(Keys::prefixed("{p}", "resque").cluster_tag().unwrap(), "p");
    for ns in ["resque", "", "{}", "{}{x}", "re{sque", "res}que{", "{resque"] {
      let e = Keys::new(ns).cluster_tag().unwrap_err();
      assert_eq!(e.code, Code::InvalidArg, "{ns:?}");
      assert!(e.message.contains("hash tag"), "{}", e.message);
    }
  }

  /// node-resque's `key()`: `[namespace, ...parts].filter(p => String(p).trim()).join(':')`.
  #[test]
  fn empty_and_colon_ended_namespaces_as_node_resque_joins_them() {
    let top = Keys::new("");
    assert_eq!(top.queue("images"), "queue:images");
    assert_eq!(top.working("w", "a,b"), "worker:w:a,b");
    assert_eq!(top.ping("w"), "worker:ping:w");
    assert_eq!(top.failed(), "failed");
    assert_eq!(top.own("cycle", "w", "q"), "rusque:cycle:w:q");
    // Blank by JS's trim(): left out, whatever the whitespace.
    for ns in [" ", "\t\n", "\u{feff}", "\u{3000}"] {
      assert_eq!(Keys::new(ns).queue("q"), "queue:q", "{ns:?}");
    }
    // U+0085 is not JS whitespace: a namespace of its own.
    assert_eq!(Keys::new("\u{85}").queue("q"), "\u{85}:queue:q");
    // A trailing ':' is kept, and joined with another one, as node-resque does.
    assert_eq!(Keys::new("resque:").queue("q"), "resque::queue:q");
    assert_eq!(Keys::new("a:b").ping("w"), "a:b:worker:ping:w");
    // A blank part is left out too (a queue named "").
    assert_eq!(Keys::new("resque").queue(""), "resque:queue");
    // An ioredis keyPrefix goes in front verbatim.
    assert_eq!(Keys::prefixed("pfx:", "").ping("w"), "pfx:worker:ping:w");
    assert_eq!(Keys::prefixed("pfx:", "resque").ping("w"), "pfx:resque:worker:ping:w");
    assert_eq!(Keys::prefixed("pfx", "resque").head(), "pfxresque:");
    // The key policy's own prefix is the same head.
    assert!(KeyPolicy::new("resque:", vec![]).check("resque::queue:q", "output").is_err());
    assert!(KeyPolicy::new("resque:", vec![]).check("resque:img", "output").is_ok());
    assert!(KeyPolicy::new(" ", vec![]).check("queue:q", "output").is_err());
  }
}
