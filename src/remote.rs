//! Remote calls for lib/remote.js: the queue entry of a call and the
//! decoding of its reply, both by rusque_resque::remote (which the Rust
//! loop answers with), and a reply's result converted to JS by the same
//! code as a local call's (runtime::output_value).

use std::ptr;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use rusque_core::spec::TaskName;
use rusque_resque::keys::Keys;
use rusque_resque::payload::parse_json;
use rusque_resque::remote::{self, Call};

use crate::error::{to_napi, Result};
use crate::runtime::{output_value, set_element};

#[napi(object)]
pub struct RemoteClass {
  pub task: String,
  /// The job class its calls are queued under.
  pub class: String,
}

#[napi(object)]
pub struct RemoteInfo {
  pub classes: Vec<RemoteClass>,
  /// The largest input a worker reads for a call (its maxInputBytes default).
  pub max_input_bytes: f64,
  /// The largest reply a worker sends.
  pub max_reply_bytes: f64,
}

/// The remote job classes and limits: `remoteJobs()` and the caller read them.
#[napi]
pub fn remote_info() -> RemoteInfo {
  RemoteInfo {
    classes: remote::CLASSES.iter().map(|(k, c)| RemoteClass { task: k.as_str().into(), class: c.to_string() }).collect(),
    max_input_bytes: rusque_resque::files::DEFAULT_MAX_INPUT_BYTES as f64,
    max_reply_bytes: remote::MAX_REPLY_BYTES as f64,
  }
}

/// The Redis names and queue entry of one call.
#[napi(object)]
pub struct RemoteCall {
  /// The node-resque entry to push on the queue.
  pub entry: String,
  /// Where the input bytes go (and the sign the caller still waits).
  pub input: String,
  /// The caller's reply list.
  pub reply: String,
  /// What this call's reply starts with (to remove it when giving up).
  pub prefix: String,
  /// The channel to publish on once the call is queued: it wakes idle workers.
  pub wake: String,
  /// A copy of the input, made here as a local call copies its input: the
  /// caller may change its buffer once the call returns. (Rust's allocator
  /// reuses freed memory; a fresh Buffer per call faults its pages in anew.)
  pub bytes: Buffer,
}

#[napi(object)]
pub struct RemoteCallOptions {
  pub task: String,
  /// The task's options as JSON, `composite` overlays' bytes named `{ buffer: n }`.
  pub options_json: String,
  pub namespace: String,
  pub queue: String,
  pub call: String,
  pub caller: String,
  /// Seconds the reply list lives after the worker's push.
  pub ttl: u32,
}

/// A call's entry and keys, and a copy of its `input`. The options are
/// checked by the spec (as a local call's are); overlays given as bytes
/// travel as base64.
#[napi]
pub fn remote_call(o: RemoteCallOptions, input: &[u8], buffers: Option<Vec<&[u8]>>) -> Result<RemoteCall> {
  let kind = TaskName::parse(&o.task).map_err(to_napi)?;
  let options = match parse_json(&o.options_json) {
    Ok(v) => v,
    Err(e) => return Err(to_napi(rusque_core::Error::invalid(format!("options are not valid JSON: {e}")))),
  };
  let options = remote::call_options(kind, options, &buffers.unwrap_or_default()).map_err(to_napi)?;
  let keys = Keys::new(&o.namespace);
  Ok(RemoteCall {
    entry: Call::entry(kind, &o.queue, &o.call, &o.caller, u64::from(o.ttl.max(1)), options),
    input: keys.call_input(&o.call),
    reply: keys.call_reply(&o.caller),
    prefix: remote::reply_prefix(&o.call),
    wake: keys.call_wake(&o.queue),
    bytes: Buffer::from(input.to_vec()),
  })
}

/// A decoded reply: `[callId, errorCode | null, value | errorMessage]`.
pub struct Reply(String, rusque_core::Result<rusque_core::Output>);

impl ToNapiValue for Reply {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
    let mut arr = ptr::null_mut();
    check_status!(sys::napi_create_array_with_length(env, 3, &mut arr))?;
    set_element(env, arr, 0, String::to_napi_value(env, val.0)?)?;
    match val.1 {
      Ok(out) => {
        set_element(env, arr, 1, Null::to_napi_value(env, Null)?)?;
        set_element(env, arr, 2, output_value(env, out)?)?;
      }
      Err(e) => {
        set_element(env, arr, 1, <&str>::to_napi_value(env, e.code.as_str())?)?;
        set_element(env, arr, 2, String::to_napi_value(env, e.message)?)?;
      }
    }
    Ok(arr)
  }
}

/// Reads a reply popped from the reply list.
#[napi]
pub fn remote_reply(reply: &[u8]) -> Result<Reply> {
  let (call, result) = remote::decode(reply).map_err(to_napi)?;
  Ok(Reply(call, result))
}

/// The channel that wakes the idle workers serving `queue`'s remote calls
/// (rusque_resque::wake): recovery publishes on it when it requeues a job.
#[napi]
pub fn remote_wake_channel(namespace: String, queue: String) -> String {
  Keys::new(&namespace).call_wake(&queue)
}
