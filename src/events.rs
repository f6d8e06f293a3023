//! The Rust resque loop's events as JS receives them: batches of JSON
//! arrays through one threadsafe function.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;

pub type EventFn = ThreadsafeFunction<String, Unknown<'static>, String, Status, false>;

/// One event as a JSON array, `[kind, slot, ...]` (kind: its index in
/// `Event::KINDS`, which JS reads through `eventKinds()`): arrays parse faster than objects, and JS parses
/// thousands a second. A payload that is valid JSON goes in as is, so JS
/// parses each entry once, with the batch; any other payload goes in as a string.
pub fn event_json(e: rusque_resque::worker::Event) -> String {
  use rusque_resque::worker::Event as E;
  use serde_json::{json, Value};
  // A success's payload parsed as a job, so it is JSON; others are checked.
  let payload_json = |payload: String, known_json: bool| {
    if known_json || serde_json::from_str::<serde::de::IgnoredAny>(&payload).is_ok() {
      payload
    } else {
      Value::String(payload).to_string()
    }
  };
  // `rest` is a JSON array; the payload is spliced in as its 4th element.
  let with_payload = |kind: u8, slot: usize, queue: String, payload: String, known_json: bool, rest: Value| {
    let rest = rest.to_string();
    let tail = &rest[1..rest.len() - 1];
    let sep = if tail.is_empty() { "" } else { "," };
    format!("[{kind},{slot},{},{}{sep}{tail}]", Value::String(queue), payload_json(payload, known_json))
  };
  let kind = e.kind();
  match e {
    E::Start { slot } | E::End { slot } | E::Pause { slot } | E::Ready { slot } => json!([kind, slot]).to_string(),
    E::Job { slot, queue, payload } => with_payload(kind, slot, queue, payload, false, json!([])),
    E::Success { slot, queue, payload, result, duration_ms } => with_payload(kind, slot, queue, payload, true, json!([result, duration_ms])),
    E::Failure { slot, queue, payload, exception, error, duration_ms } => {
      with_payload(kind, slot, queue, payload, false, json!([error.code.as_str(), error.message, duration_ms, exception]))
    }
    E::Error { slot, message } => json!([kind, slot, message]).to_string(),
    E::Noop { slot, queue, payload, exception, error } => {
      with_payload(kind, slot, queue, payload, false, json!([error.code.as_str(), error.message, exception]))
    }
    E::ReEnqueue { slot, queue, payload, delay_ms, remaining, exception, error } => {
      with_payload(kind, slot, queue, payload, false, json!([delay_ms, remaining, error.code.as_str(), error.message, exception]))
    }
  }
}

#[napi_derive::napi(object)]
pub struct EventKinds {
  /// Every kind by name; an event's number is its index here.
  pub kinds: Vec<String>,
  /// The bits of the per-job event mask (`NativeWorker#setEvents`).
  pub emit_job: u32,
  pub emit_success: u32,
}

/// The Rust loop's event kinds and mask bits, defined in rusque_resque::worker.
#[napi_derive::napi]
pub fn event_kinds() -> EventKinds {
  use rusque_resque::worker::{Event, EMIT_JOB, EMIT_SUCCESS};
  EventKinds { kinds: Event::KINDS.iter().map(|k| k.to_string()).collect(), emit_job: u32::from(EMIT_JOB), emit_success: u32::from(EMIT_SUCCESS) }
}
