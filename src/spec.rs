//! The task spec for JS: options arrive as JSON and are parsed by the
//! core's spec (rusque_core::spec), the one parser for every path. Errors
//! cross as every glue error does (src/error.rs).

use napi_derive::napi;
use rusque_core::spec::{self, TaskName};
use std::sync::Arc;

use rusque_core::tasks::image::composite::{bytes_only, input_name, Source};
use rusque_core::Task;
use rusque_resque::job::NativeJob;
use rusque_resque::payload::parse_json;
use serde_json::Value;

use crate::error::{to_napi as coded, Result};

fn json(text: &str, what: &str) -> Result<Value> {
  parse_json(text).map_err(|e| coded(rusque_core::Error::invalid(format!("{what} are not valid JSON: {e}"))))
}

/// One task with its options, parsed and checked (by `new`, which throws a
/// coded ERR_INVALID_ARG): what `submitResize` runs.
#[napi]
pub struct TaskSpec {
  pub(crate) task: Task,
}

#[napi]
impl TaskSpec {
  /// `task`: resize, metadata or hash; `options_json`: its options as a JSON
  /// object (or null), without JS-only keys (signal). `buffers`: the bytes
  /// of `composite` overlays, which the JSON names as `{ buffer: n }`; they
  /// are copied here, so the caller may reuse them once this returns.
  #[napi(constructor)]
  pub fn new(task: String, options_json: String, buffers: Option<Vec<&[u8]>>) -> Result<Self> {
    let name = TaskName::parse(&task).map_err(coded)?;
    let mut task = spec::task(name, &json(&options_json, "options")?, &[]).map_err(coded)?;
    if let Task::Resize(o) = &mut task {
      let buffers = buffers.unwrap_or_default();
      for (i, source) in o.steps.sources_mut() {
        *source = match source {
          Source::Buffer(n) => Source::Bytes(buffers.get(*n).map(|b| Arc::from(*b)).ok_or_else(|| {
            coded(rusque_core::Error::internal(format!("{} names buffer {n}, of {} passed", input_name(i), buffers.len())))
          })?),
          Source::Bytes(_) => continue,
          _ => return Err(coded(bytes_only(i))),
        };
      }
    }
    Ok(TaskSpec { task })
  }
}

/// Checks a native() definition's defaults (JSON) as a job's options are
/// checked: a bad or unknown default throws the message a job would get.
#[napi]
pub fn check_native_defaults(task: String, defaults_json: String) -> Result<()> {
  let kind = TaskName::parse(&task).map_err(coded)?;
  let defaults = match json(&defaults_json, "native() defaults")? {
    Value::Object(m) => m,
    _ => return Err(coded(rusque_core::Error::invalid("native(task, defaults): defaults must be an object of task options"))),
  };
  NativeJob::new(kind, defaults).check_defaults().map_err(coded)
}

#[napi(object)]
pub struct TaskInfo {
  pub task: String,
  /// The option names the task accepts (JS adds its JS-only ones: signal).
  pub fields: Vec<String>,
}

#[napi(object)]
pub struct ChoiceInfo {
  /// The option: fit, kernel, position, format or algorithm.
  pub name: String,
  pub values: Vec<String>,
}

#[napi(object)]
pub struct SpecInfo {
  pub tasks: Vec<TaskInfo>,
  pub choices: Vec<ChoiceInfo>,
}

/// The spec's option names per task and the accepted values of its named
/// choices: what index.d.ts's interfaces and unions must say (tested).
#[napi]
pub fn spec_info() -> SpecInfo {
  let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
  SpecInfo {
    tasks: TaskName::ALL.iter().map(|t| TaskInfo { task: t.as_str().into(), fields: strings(t.fields()) }).collect(),
    choices: spec::tasks::choices().into_iter().map(|(name, values)| ChoiceInfo { name: name.into(), values: strings(&values) }).collect(),
  }
}
