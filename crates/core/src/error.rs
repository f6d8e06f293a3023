//! One error type for every task, and the one catalogue of every error code
//! the package can produce, whichever side raises it: Rust (tasks, the pool,
//! the resque loop) or JavaScript (JobQueue, the Worker's Redis connection,
//! the loader). The glue exports the catalogue (`errorCatalogue()`), so the JS
//! `codes` map, the `RusqueErrorCode` type and the docs' error table are all
//! checked against this list; a code is added here first.

use std::fmt;

/// Defines `Code`, its wire names and its descriptions from one list.
macro_rules! catalogue {
  ($( $(#[$doc:meta])* $variant:ident = $name:literal : $description:literal, )*) => {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Code {
      $( $(#[$doc])* $variant, )*
    }

    impl Code {
      /// Every code, in catalogue order.
      pub const ALL: &'static [Code] = &[$( Code::$variant, )*];

      /// The stable name JavaScript sees as `err.code`.
      pub fn as_str(self) -> &'static str {
        match self { $( Code::$variant => $name, )* }
      }

      /// One line: what happened and what to do about it.
      pub fn description(self) -> &'static str {
        match self { $( Code::$variant => $description, )* }
      }
    }
  };
}

catalogue! {
  /// An argument has the wrong type or an out-of-range value.
  InvalidArg = "ERR_INVALID_ARG":
    "An argument or a job's options had the wrong type or value; fix the call (the message names the option), do not retry it as is.",
  /// The bytes are not an image format rusque reads.
  UnsupportedFormat = "ERR_UNSUPPORTED_FORMAT":
    "The bytes are not a JPEG, PNG, WebP, GIF or AVIF image rusque can read; tell whoever sent them.",
  /// The bytes claim a supported format but are corrupt or truncated.
  CorruptInput = "ERR_CORRUPT_INPUT":
    "The image data is corrupt or truncated; tell whoever sent it.",
  /// The image is larger than the configured pixel limit.
  LimitExceeded = "ERR_LIMIT_EXCEEDED":
    "The input or output is over a pixel or byte limit (limitInputPixels, limitOutputPixels, maxInputBytes); raise the limit or refuse the input.",
  /// The job was cancelled through its AbortSignal.
  Aborted = "ABORT_ERR":
    "The call was cancelled through its AbortSignal; nothing to fix, the caller gave up.",
  /// The job ran past its timeout.
  Timeout = "ERR_TIMEOUT":
    "A JobQueue job ran past its timeout; the server is busy or the input slow: retry later or raise timeout.",
  /// A JobQueue already holds `maxQueued` waiting jobs.
  QueueFull = "ERR_QUEUE_FULL":
    "A JobQueue already holds maxQueued waiting jobs; retry later (answer 503) or raise maxQueued.",
  /// A JobQueue was closed.
  QueueClosed = "ERR_QUEUE_CLOSED":
    "The JobQueue was closed: add() after close(), or a waiting job dropped by close({ drain: false }); use a new queue.",
  /// A bug: a panic inside a task or an unexpected library failure.
  Internal = "ERR_INTERNAL":
    "A bug in rusque (a caught panic, or a job whose worker died repeatedly); the process keeps serving: please report it.",
  /// A native job named a file outside the worker's `roots`.
  PathOutsideRoots = "ERR_PATH_OUTSIDE_ROOTS":
    "A native job named a path outside the Worker's roots (or through a refused symlink); fix the job or the Worker's roots.",
  /// A native job's input (Redis key or file) does not exist.
  InputNotFound = "ERR_INPUT_NOT_FOUND":
    "A native job's input file or Redis key does not exist; fix the job.",
  /// A native job's output directory does not exist.
  OutputNotFound = "ERR_OUTPUT_NOT_FOUND":
    "A native job's output directory does not exist; create it or fix the job.",
  /// A native job named a Redis key it may not use: one of the queue's own
  /// (`<namespace>:*`) or one outside the Worker's `keys.prefix`.
  KeyRefused = "ERR_KEY_REFUSED":
    "A native job named a Redis key it may not use (under the namespace, or outside keys.prefix); fix the job or keys.prefix.",
  /// The server could not do file I/O it should have been able to do
  /// (permissions, a read-only or full disk, an I/O error): the operator's to
  /// fix, not the job's.
  Io = "ERR_IO":
    "The server could not read or write a file it should have (permissions, a full or read-only disk); the operator's to fix.",
  /// Nothing answered at the Redis address.
  RedisUnreachable = "ERR_REDIS_UNREACHABLE":
    "Nothing answered at the Redis address (refused, timed out, closed); check that Redis runs there.",
  /// Redis answered with an error (out of memory, an ACL, a wrong password):
  /// the operator's to fix, not the job's.
  RedisRejected = "ERR_REDIS_REJECTED":
    "Redis answered with an error (a wrong password, an ACL, out of memory); the operator's to fix.",
  /// A Worker method that needs Redis ran before `connect()`.
  NotConnected = "ERR_NOT_CONNECTED":
    "A Worker method that needs Redis ran before connect(); call connect() first.",
  /// `rusque/resque` was asked for a node-resque name without node-resque.
  PeerMissing = "ERR_PEER_MISSING":
    "A node-resque name was used without node-resque installed; run `npm install node-resque@^9`.",
  /// The prebuilt native binary could not load (raised by lib/load.js).
  NativeLoad = "ERR_RUSQUE_NATIVE_LOAD":
    "The native binary for this platform could not load; reinstall with optional dependencies, or build from source.",
}

impl AsRef<str> for Code {
  /// The glue throws `napi::Error<Code>`, whose status becomes `err.code`.
  fn as_ref(&self) -> &str {
    self.as_str()
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

#[cfg(test)]
mod tests {
  use super::Code;
  use std::collections::HashSet;

  #[test]
  fn every_code_is_named_once_and_described() {
    let names: HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names.len(), Code::ALL.len(), "a wire name is used twice");
    for c in Code::ALL {
      let name = c.as_str();
      assert!(name == "ABORT_ERR" || (name.starts_with("ERR_") && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')), "{name}");
      let d = c.description();
      assert!(d.len() > 20 && d.ends_with('.') && !d.contains('\n'), "{name}: {d:?}");
    }
  }
}
