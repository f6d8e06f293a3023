//! The task catalog. Each task is plain Rust over bytes: no Node types here.

pub mod hash;
pub mod image;

use crate::error::Result;
use crate::pool::Cancel;

/// A unit of work the pool can run.
#[derive(Debug, Clone)]
pub enum Task {
  Resize(image::ResizeOptions),
  Metadata,
  Hash(hash::Algorithm),
}

/// What a task returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
  Bytes(Vec<u8>),
  /// A resize asked for `resolveWithObject`: its bytes with their info.
  Image(image::Encoded),
  Text(String),
  Metadata(image::Metadata),
}

impl Task {
  pub fn run(&self, input: &[u8], cancel: &Cancel) -> Result<Output> {
    cancel.check()?;
    match self {
      // The info rides along only when asked for: the default result stays the bare bytes.
      Task::Resize(opts) => image::resize_with_info(input, opts, cancel)
        .map(|e| if opts.resolve_with_object { Output::Image(e) } else { Output::Bytes(e.bytes) }),
      Task::Metadata => image::metadata(input).map(Output::Metadata),
      Task::Hash(alg) => Ok(Output::Text(hash::hash(input, *alg))),
    }
  }
}
