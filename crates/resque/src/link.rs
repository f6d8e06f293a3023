//! Where the Rust threads reach Redis: one server, or a Redis Cluster.
//!
//! The Rust loop (crate::worker) and the ping thread (crate::alive) talk to
//! Redis through the types here, so that neither cares which it is. On a
//! cluster, redis-rs's cluster client learns the topology from the startup
//! nodes and follows it: MOVED and ASK redirections, and a failover (a
//! replica promoted after its primary died) by refreshing its slot map. Every
//! key of the queue shares the namespace's hash tag (keys::Keys::cluster_tag),
//! so each script runs on the one node that holds them all.

use std::cell::Cell;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use rusque_core::error::Result;

use crate::keys::Keys;

/// The Redis the threads connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
  /// One server: `redis://[user:password@]host:port/db`.
  Server(String),
  /// A Redis Cluster, by the URLs of its startup nodes (any subset of its
  /// nodes; the rest are learned from them).
  Cluster(Vec<String>),
}

impl Target {
  /// `url` alone, or the cluster of `nodes` when there are any. On a
  /// cluster the layout under `keys` must share one hash tag
  /// (ERR_INVALID_ARG otherwise, as connect() says).
  pub fn new(url: &str, nodes: &[String], keys: &Keys) -> Result<Target> {
    if nodes.is_empty() {
      return Ok(Target::Server(url.to_string()));
    }
    keys.cluster_tag()?;
    Ok(Target::Cluster(nodes.to_vec()))
  }

  pub fn is_cluster(&self) -> bool {
    matches!(self, Target::Cluster(_))
  }

  /// The (first) URL, for messages.
  pub fn url(&self) -> &str {
    match self {
      Target::Server(url) => url,
      Target::Cluster(nodes) => nodes.first().map_or("", String::as_str),
    }
  }
}

/// An async connection to either: commands, pipelines and scripts go
/// through it alike (a cluster routes each by its first key).
#[derive(Clone)]
pub enum Con {
  Server(MultiplexedConnection),
  Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Con {
  fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
    match self {
      Con::Server(c) => c.req_packed_command(cmd),
      Con::Cluster(c) => c.req_packed_command(cmd),
    }
  }

  fn req_packed_commands<'a>(&'a mut self, cmd: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
    match self {
      Con::Server(c) => c.req_packed_commands(cmd, offset, count),
      Con::Cluster(c) => c.req_packed_commands(cmd, offset, count),
    }
  }

  fn get_db(&self) -> i64 {
    match self {
      Con::Server(c) => c.get_db(),
      Con::Cluster(c) => c.get_db(),
    }
  }
}

/// How long connecting may take, and a reply (the timeouts of the blocking
/// connections the async ones replaced).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The TCP settings of the Rust loop's connections. No-delay: steps are
/// small writes that must not wait for the previous one's acknowledgement.
fn tcp() -> redis::io::tcp::TcpSettings {
  redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// A client of either kind, made once per I/O thread.
enum Client {
  Server(redis::Client),
  Cluster(redis::cluster::ClusterClient),
}

impl Client {
  fn open(target: &Target) -> redis::RedisResult<Client> {
    Ok(match target {
      Target::Server(url) => Client::Server(redis::Client::open(url.as_str())?),
      // Retries: a failover (a few seconds) is ridden out by the slot's own
      // reconnect loop, which reports it; the client only follows redirections
      // and brief refusals itself.
      Target::Cluster(nodes) => Client::Cluster(
        redis::cluster::ClusterClientBuilder::new(nodes.iter().map(String::as_str))
          .connection_timeout(CONNECT_TIMEOUT)
          .response_timeout(RESPONSE_TIMEOUT)
          .tcp_settings(tcp())
          .retries(4)
          .build()?,
      ),
    })
  }

  async fn connect(&self) -> redis::RedisResult<Con> {
    match self {
      Client::Server(client) => {
        let cfg = redis::AsyncConnectionConfig::new()
          .set_connection_timeout(CONNECT_TIMEOUT)
          .set_response_timeout(RESPONSE_TIMEOUT)
          .set_tcp_settings(tcp());
        client.get_multiplexed_async_connection_with_config(&cfg).await.map(Con::Server)
      }
      Client::Cluster(client) => client.get_async_connection().await.map(Con::Cluster),
    }
  }
}

/// The connection the slots of one I/O thread share. A slot that finds it
/// broken drops it here; the next slot to ask connects again.
pub struct Link {
  client: std::result::Result<Client, String>,
  current: tokio::sync::Mutex<Option<(u64, Con)>>,
  /// Connection attempts so far, and how the last failed one failed: slots
  /// that queued behind a failed attempt report its failure rather than
  /// each waiting out its own.
  attempts: Cell<u64>,
  last_error: std::cell::RefCell<String>,
}

impl Link {
  pub fn new(target: &Target) -> Self {
    Link {
      client: Client::open(target).map_err(|e| e.to_string()),
      current: Default::default(),
      attempts: Cell::new(0),
      last_error: Default::default(),
    }
  }

  /// The shared connection and its number, connecting if there is none.
  pub async fn get(&self) -> std::result::Result<(u64, Con), String> {
    let seen = self.attempts.get();
    let mut current = self.current.lock().await;
    if let Some((n, con)) = current.as_ref() {
      return Ok((*n, con.clone()));
    }
    if self.attempts.get() != seen {
      return Err(self.last_error.borrow().clone());
    }
    let n = seen + 1;
    self.attempts.set(n);
    let client = self.client.as_ref().map_err(Clone::clone)?;
    match client.connect().await {
      Ok(con) => {
        *current = Some((n, con.clone()));
        Ok((n, con))
      }
      Err(e) => {
        *self.last_error.borrow_mut() = e.to_string();
        Err(e.to_string())
      }
    }
  }

  /// Drops connection `n` (a slot saw it fail), unless it was replaced already.
  pub async fn broken(&self, n: u64) {
    let mut current = self.current.lock().await;
    if current.as_ref().is_some_and(|(m, _)| *m == n) {
      *current = None;
    }
  }
}

/// A blocking connection to either (the ping thread's), with `io` as its
/// read and write timeout.
pub fn blocking(target: &Target, io: Duration) -> redis::RedisResult<Box<dyn redis::ConnectionLike + Send>> {
  Ok(match target {
    Target::Server(url) => {
      let con = redis::Client::open(url.as_str())?.get_connection_with_timeout(CONNECT_TIMEOUT)?;
      con.set_read_timeout(Some(io))?;
      con.set_write_timeout(Some(io))?;
      Box::new(con)
    }
    Target::Cluster(nodes) => Box::new(
      redis::cluster::ClusterClientBuilder::new(nodes.iter().map(String::as_str))
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(io)
        .build()?
        .get_connection()?,
    ),
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_cluster_target_needs_a_hash_tagged_namespace() {
    let nodes = vec!["redis://127.0.0.1:7000/0".to_string()];
    assert_eq!(Target::new("redis://h:1/0", &[], &Keys::new("resque")).unwrap(), Target::Server("redis://h:1/0".into()));
    let t = Target::new("", &nodes, &Keys::new("{resque}")).unwrap();
    assert!(t.is_cluster());
    assert_eq!(t.url(), "redis://127.0.0.1:7000/0");
    let e = Target::new("", &nodes, &Keys::new("resque")).unwrap_err();
    assert_eq!(e.code, rusque_core::error::Code::InvalidArg);
  }
}
