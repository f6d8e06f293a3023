//! Redis key names, byte-compatible with node-resque and resque.

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

#[cfg(test)]
mod tests {
  use super::*;

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
