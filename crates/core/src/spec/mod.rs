//! Every task's options, defined once: one serde type per task, the only
//! parser and validator of its options, whatever the path (resize(),
//! JobQueue, a native job in either resque loop). A field's value type
//! checks it (values.rs); unknown keys are refused with a suggestion
//! (fields.rs); messages name the field's path ("output.ttl").
//!
//! `null` means "not given": the field keeps its default.

pub mod describe;
pub mod fields;
pub mod steps;
pub mod tasks;
pub mod values;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use describe::describe;
pub use fields::{check_keys, fields};
pub use tasks::{task, TaskName};

use crate::error::{Error, Result};

/// Reads `T` from `v`, an object (or null: all defaults), refusing keys
/// neither `T` nor `also` accept. `owner` names what takes the options.
pub fn parse<T: DeserializeOwned>(owner: &str, v: &Value, also: &[&str]) -> Result<T> {
  let empty = Value::Object(Map::new());
  let v = match v {
    Value::Null => &empty,
    Value::Object(m) => {
      check_keys(owner, m, fields::<T>(), also)?;
      v
    }
    other => return Err(Error::invalid(format!("options must be an object, got {}", describe(other)))),
  };
  parse_fields(v)
}

/// Reads `T`'s fields from `v` without checking for other keys.
pub fn parse_fields<T: DeserializeOwned>(v: &Value) -> Result<T> {
  serde_path_to_error::deserialize(v).map_err(|e| {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    // A nested value's message may go on with its own path (".ttl ...", "[0].input ...").
    Error::invalid(if message.starts_with('.') || message.starts_with('[') { format!("{path}{message}") } else { format!("{path} {message}") })
  })
}
