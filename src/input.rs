//! A call's input bytes, read where they are. The pool reads the caller's
//! Buffer or Uint8Array in place, as sharp does, instead of copying it on the
//! JS thread (an 800 KB JPEG cost 0.1-0.3 ms of JS-thread time per call to
//! copy). A napi reference keeps the JS object, and with it the memory,
//! alive until the job's completion reaches the JS thread; it is deleted
//! there, while the batch is handed over (src/runtime.rs), so holding the
//! input costs no extra wake-up and nothing touches napi off the JS thread.
//!
//! Copied instead, on the JS thread: inputs under `COPY_BELOW` bytes (a copy
//! costs less than a reference there), and views of a resizable ArrayBuffer
//! (lib/args.js copies those: shrinking one may give its memory back).
//!
//! What the caller may do meanwhile (docs/api.md, "Input buffers"): drop
//! every reference to the buffer (the reference keeps it alive, GC or not)
//! or change its bytes (the job reads whatever is there: a corrupt-input
//! error or a mixed image, never a read outside the buffer; the decoders
//! recheck the header's size, decode.rs). Detaching (transferring) its
//! ArrayBuffer before the job starts is refused; see the docs for while it runs.
//!
//! Composite overlays (more than one input per job) take one `JsBytes` each
//! and add their references to the same `Held` (`Held::extend`).

use std::ptr::{self, NonNull};

use napi::bindgen_prelude::*;

/// Inputs shorter than this are copied: measured on the 100k-hash burst
/// (benchmark/suites/queue.js), creating and deleting a reference costs
/// more than copying a few KiB.
pub const COPY_BELOW: usize = 4096;

/// An input argument as the call received it (a Uint8Array, lib/args.js
/// toBytes): read or referenced only once the job is sure to run.
pub struct JsBytes {
  env: sys::napi_env,
  value: sys::napi_value,
}

impl TypeName for JsBytes {
  fn type_name() -> &'static str {
    "Uint8Array"
  }
  fn value_type() -> ValueType {
    ValueType::Object
  }
}

impl ValidateNapiValue for JsBytes {}

impl FromNapiValue for JsBytes {
  unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
    Ok(JsBytes { env, value })
  }
}

impl JsBytes {
  /// The bytes, valid for the duration of the native call only;
  /// ERR_INVALID_ARG for anything but a Uint8Array (a Buffer is one).
  pub fn view(&self) -> crate::error::Result<&[u8]> {
    let not_bytes = || crate::error::invalid("input must be a Uint8Array".into());
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    let status = unsafe { sys::napi_get_typedarray_info(self.env, self.value, &mut kind, &mut len, &mut data, &mut buffer, &mut offset) };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
      return Err(not_bytes());
    }
    match NonNull::new(data.cast::<u8>()) {
      // SAFETY: napi describes `len` bytes at `data`, alive while the call runs.
      Some(p) if len > 0 => Ok(unsafe { std::slice::from_raw_parts(p.as_ptr(), len) }),
      _ => Ok(&[]),
    }
  }

  /// The bytes for a job: `view` (this call's, from `view()`) copied when
  /// small, else referenced, the reference added to `held` until the
  /// completion is delivered. Never fails: should napi refuse a reference
  /// (only while the environment shuts down), the job gets a copy.
  pub fn hold(&self, view: &[u8], held: &mut Held) -> Input {
    if view.len() >= COPY_BELOW {
      let mut reference = ptr::null_mut();
      let status = unsafe { sys::napi_create_reference(self.env, self.value, 1, &mut reference) };
      if status == sys::Status::napi_ok && !reference.is_null() {
        held.push(reference);
        return Input::View(NonNull::from(view).cast::<u8>(), view.len());
      }
    }
    Input::Owned(view.to_vec())
  }
}

/// A job's input bytes: its own copy, or a view of a JS object's memory
/// that a reference in the job's `Held` keeps alive.
pub enum Input {
  Owned(Vec<u8>),
  View(NonNull<u8>, usize),
}

// SAFETY: a View's memory stays alive (Held) until the job's completion is
// delivered, after the pool has dropped the Input (pool::run_admitted).
unsafe impl Send for Input {}

impl AsRef<[u8]> for Input {
  fn as_ref(&self) -> &[u8] {
    match self {
      Input::Owned(v) => v,
      // SAFETY: see `unsafe impl Send`.
      Input::View(p, len) => unsafe { std::slice::from_raw_parts(p.as_ptr(), *len) },
    }
  }
}

/// The references that keep a job's inputs alive. Released on the JS
/// thread when its completion is delivered; one dropped without `release`
/// (only once the environment is gone) leaks its references, never deletes
/// them off the JS thread.
#[derive(Default)]
pub struct Held {
  first: Option<NonNull<sys::napi_ref__>>,
  more: Vec<NonNull<sys::napi_ref__>>,
}

// SAFETY: the references are only ever used (deleted) on the JS thread, in `release`.
unsafe impl Send for Held {}

impl Held {
  fn push(&mut self, reference: sys::napi_ref) {
    let Some(r) = NonNull::new(reference) else { return };
    if self.first.is_none() {
      self.first = Some(r);
    } else {
      self.more.push(r);
    }
  }

  /// Adds another input's references (a job with several inputs).
  pub fn extend(&mut self, other: Held) {
    for r in other.first.into_iter().chain(other.more) {
      self.push(r.as_ptr());
    }
  }

  /// Deletes the references: on the JS thread of `env`, once no job reads
  /// the inputs any more.
  ///
  /// # Safety
  /// `env` must be the environment the references were made in, on its thread.
  pub unsafe fn release(self, env: sys::napi_env) {
    for r in self.first.into_iter().chain(self.more) {
      // Fails only while the environment shuts down, which frees them anyway.
      let _ = unsafe { sys::napi_delete_reference(env, r.as_ptr()) };
    }
  }
}
