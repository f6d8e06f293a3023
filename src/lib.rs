//! Node.js glue: argument conversion and completion delivery only. Every
//! task lives in `rusque-core` and the resque loop in `rusque-resque`;
//! nothing here runs task logic. Split by concern:
//!
//! - `runtime`: one `Runtime` per JS environment, which submits calls to the
//!   pool and hands completions back in batches through a threadsafe function;
//! - `spec`: task options, as JSON, parsed by the core's spec;
//! - `pool`: `configure`, pool statistics and build facts;
//! - `worker` and `events`: the Rust resque loop and the events it reports;
//! - `alive`: the JS loop's pings from a Rust thread (a busy JS thread is not a dead worker);
//! - `jobs`: native jobs run by the JS resque loop;
//! - `remote`: remote calls' queue entries and replies, for lib/remote.js;
//! - `error`: the one place errors cross into JS, and the error catalogue;
//! - `bench`: the resize stages timed alone, for benchmark/ only.

use std::sync::Mutex;

use napi::bindgen_prelude::*;

mod alive;
mod bench;
mod error;
mod events;
mod jobs;
mod pool;
mod remote;
mod runtime;
mod spec;
mod worker;

/// Appends `items` to a completion queue and wakes the JS thread through
/// `wake` only when the queue goes from empty to non-empty, so completions
/// arrive in batches while the pool is busy. Shared by every completion queue.
fn enqueue_and_wake<T>(queue: &Mutex<Vec<T>>, items: impl IntoIterator<Item = T>, wake: impl FnOnce()) {
  let was_empty = {
    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
    let was_empty = q.is_empty();
    q.extend(items);
    was_empty
  };
  if was_empty {
    wake();
  }
}

/// Refs (keeps the event loop alive) or unrefs a threadsafe function.
fn keep_alive(env: &Env, tsfn: sys::napi_threadsafe_function, active: bool) -> error::Result<()> {
  check_status!(unsafe {
    if active {
      sys::napi_ref_threadsafe_function(env.raw(), tsfn)
    } else {
      sys::napi_unref_threadsafe_function(env.raw(), tsfn)
    }
  })
  .map_err(error::napi_failed)
}

fn ms(ns: u64) -> f64 {
  ns as f64 / 1e6
}

