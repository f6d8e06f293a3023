//! The one place errors cross into JavaScript. Every fallible export returns
//! `error::Result`, whose error is `napi::Error<Code>`: napi-rs throws it as
//! an `Error` whose `code` is the catalogue's name (`ERR_INVALID_ARG`, ...),
//! so JS reads `err.code` directly and `errors.fromNative()` (lib/errors.js)
//! only swaps the class for RusqueError. Also exports the catalogue itself.

use napi_derive::napi;
use rusque_core::Code;

/// An error thrown to JS with `code` = the catalogue's name.
pub type JsError = napi::Error<Code>;
pub type Result<T> = napi::Result<T, Code>;

/// The one conversion from the core's error.
pub fn to_napi(e: rusque_core::Error) -> JsError {
  napi::Error::new(e.code, e.message)
}

/// ERR_INVALID_ARG with `message`.
pub fn invalid(message: String) -> JsError {
  napi::Error::new(Code::InvalidArg, message)
}

/// A failure of napi itself (building a threadsafe function, a raw call):
/// never the caller's fault, so ERR_INTERNAL.
pub fn napi_failed(e: napi::Error) -> JsError {
  napi::Error::new(Code::Internal, format!("a Node-API call failed ({}): {}", e.status, e.reason))
}

#[napi(object)]
pub struct ErrorCatalogueEntry {
  pub code: String,
  pub description: String,
}

/// Every error code the package can produce, with its one-line meaning
/// (rusque_core::Code). lib/errors.js builds its `codes` map from this.
#[napi]
pub fn error_catalogue() -> Vec<ErrorCatalogueEntry> {
  Code::ALL.iter().map(|c| ErrorCatalogueEntry { code: c.as_str().to_string(), description: c.description().to_string() }).collect()
}
