//! Waking idle slots for remote calls. A slot that finds its queues empty
//! sleeps for the Worker's poll interval (node-resque's `timeout`), which a
//! remote call would wait out before anyone claims it. So a caller publishes
//! on the queue's wake channel (`<ns>:rusque:wake:<queue>`, Keys::call_wake)
//! after it queues a call, and each I/O thread of a worker that serves calls
//! listens there on a connection of its own and rings its slots' bell.

use std::cell::Cell;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;

/// The bell of one I/O thread's slots: a count of rings (so a ring between a
/// slot's empty poll and its nap is not missed) and the waiters to wake.
#[derive(Default)]
pub struct Bell {
  rings: Cell<u64>,
  notify: tokio::sync::Notify,
}

impl Bell {
  pub fn rings(&self) -> u64 {
    self.rings.get()
  }

  pub fn ring(&self) {
    self.rings.set(self.rings.get() + 1);
    self.notify.notify_waiters();
  }

  /// Waits up to `d`, or until a ring after `seen` (returns at once if one came already).
  pub async fn wait(&self, d: Duration, seen: u64) {
    if self.rings.get() != seen {
      return;
    }
    let _ = tokio::time::timeout(d, self.notify.notified()).await;
  }
}

/// How long a subscription may take to connect before it is tried again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the listener looks whether the worker stopped.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// The pause before a lost subscription is made again.
const RETRY: Duration = Duration::from_millis(200);

/// Rings `bell` for every message on `channels` until `stop`, subscribing
/// again after a failure (and ringing then: what was published meanwhile
/// was missed).
pub async fn listen(url: String, channels: Vec<String>, bell: std::rc::Rc<Bell>, stop: Arc<AtomicBool>) {
  let Ok(client) = redis::Client::open(url.as_str()) else { return };
  while !stop.load(Ordering::Acquire) {
    if let Ok(Ok(mut pubsub)) = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
      let mut subscribed = true;
      for c in &channels {
        subscribed = subscribed && pubsub.subscribe(c).await.is_ok();
      }
      if subscribed {
        bell.ring();
        let mut messages = std::pin::pin!(pubsub.on_message());
        while !stop.load(Ordering::Acquire) {
          match tokio::time::timeout(STOP_CHECK, poll_fn(|cx| messages.as_mut().poll_next(cx))).await {
            Ok(Some(_)) => bell.ring(),
            Ok(None) => break, // the connection closed
            Err(_) => {}
          }
        }
      }
    }
    if !stop.load(Ordering::Acquire) {
      tokio::time::sleep(RETRY).await;
    }
  }
}
