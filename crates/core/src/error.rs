//! One error type for every task. Each error carries a stable `code` that the
//! JavaScript side turns into `err.code`; messages say what was wrong.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
  /// An argument has the wrong type or an out-of-range value.
  InvalidArg,
  /// The bytes are not an image format rusque reads.
  UnsupportedFormat,
  /// The bytes claim a supported format but are corrupt or truncated.
  CorruptInput,
  /// The image is larger than the configured pixel limit.
  LimitExceeded,
  /// The job was cancelled through its AbortSignal.
  Aborted,
  /// The job ran past its timeout.
  Timeout,
  /// A bug: a panic inside a task or an unexpected library failure.
  Internal,
  /// A native job named a file outside the worker's `roots`.
  PathOutsideRoots,
  /// A native job's input (Redis key or file) does not exist.
  InputNotFound,
  /// A native job's output directory does not exist.
  OutputNotFound,
  /// A native job named a Redis key it may not use: one of the queue's own
  /// (`<namespace>:*`) or one outside the Worker's `keys.prefix`.
  KeyRefused,
  /// The server could not do file I/O it should have been able to do
  /// (permissions, a read-only or full disk, an I/O error): the operator's to
  /// fix, not the job's.
  Io,
  /// Redis answered a native job's command with an error (out of memory, an
  /// ACL): the operator's to fix, not the job's.
  RedisRejected,
}

impl Code {
  pub fn as_str(self) -> &'static str {
    match self {
      Code::InvalidArg => "ERR_INVALID_ARG",
      Code::UnsupportedFormat => "ERR_UNSUPPORTED_FORMAT",
      Code::CorruptInput => "ERR_CORRUPT_INPUT",
      Code::LimitExceeded => "ERR_LIMIT_EXCEEDED",
      Code::Aborted => "ABORT_ERR",
      Code::Timeout => "ERR_TIMEOUT",
      Code::Internal => "ERR_INTERNAL",
      Code::PathOutsideRoots => "ERR_PATH_OUTSIDE_ROOTS",
      Code::InputNotFound => "ERR_INPUT_NOT_FOUND",
      Code::OutputNotFound => "ERR_OUTPUT_NOT_FOUND",
      Code::KeyRefused => "ERR_KEY_REFUSED",
      Code::Io => "ERR_IO",
      Code::RedisRejected => "ERR_REDIS_REJECTED",
    }
  }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
  pub code: Code,
  pub message: String,
}

impl Error {
  pub fn new(code: Code, message: impl Into<String>) -> Self {
    Error { code, message: message.into() }
  }
  pub fn invalid(message: impl Into<String>) -> Self {
    Error::new(Code::InvalidArg, message)
  }
  pub fn corrupt(message: impl Into<String>) -> Self {
    Error::new(Code::CorruptInput, message)
  }
  pub fn internal(message: impl Into<String>) -> Self {
    Error::new(Code::Internal, message)
  }
  pub fn aborted() -> Self {
    Error::new(Code::Aborted, "The operation was aborted")
  }
}

impl fmt::Display for Error {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}: {}", self.code.as_str(), self.message)
  }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
