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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
  Bytes(Vec<u8>),
  Text(String),
  Metadata(image::Metadata),
}

impl Task {
  pub fn run(&self, input: &[u8], cancel: &Cancel) -> Result<Output> {
    cancel.check()?;
    match self {
      Task::Resize(opts) => image::resize(input, opts, cancel).map(Output::Bytes),
      Task::Metadata => image::metadata(input).map(Output::Metadata),
      Task::Hash(alg) => Ok(Output::Text(hash::hash(input, *alg))),
    }
  }
}
