//! Shared checks for the fuzz targets. Each target feeds libFuzzer's bytes to
//! one rusque-core entry point and asserts what must hold for any input:
//! no panic, no abort, an error only with a code that describes bad input,
//! and a successful result that is itself a valid image of the promised size.

use libfuzzer_sys::Corpus;
use rusque_core::tasks::image::{self, header, Format, ResizeOptions};
use rusque_core::{Cancel, Code};

/// Pixel cap for decoding: large enough for every seed, small enough that
/// the fuzzer does not spend its time allocating and resampling huge images.
pub const LIMIT_INPUT_PIXELS: u64 = 4_000_000;
/// Output box: small so encode and resample stay cheap per execution.
pub const OUT: u32 = 48;

fn input_error(code: Code) -> bool {
  matches!(code, Code::UnsupportedFormat | Code::CorruptInput | Code::LimitExceeded)
}

pub fn check_metadata(data: &[u8]) {
  match image::metadata(data) {
    Ok(m) => {
      assert!(m.width > 0 && m.height > 0, "metadata accepted a zero dimension: {m:?}");
      assert!((1..=4).contains(&m.channels), "metadata reported {} channels", m.channels);
      assert!((1..=8).contains(&m.orientation), "metadata reported orientation {}", m.orientation);
      assert_eq!(m.size, data.len());
      assert_eq!(header::sniff(data), Some(m.format));
    }
    Err(e) => assert!(input_error(e.code), "metadata failed with a non-input error: {e}"),
  }
}

/// Runs `resize` on inputs that sniff as `format` and rejects the rest from
/// the corpus, so each target spends its time inside one decoder.
pub fn check_resize(data: &[u8], format: Format) -> Corpus {
  if header::sniff(data) != Some(format) {
    return Corpus::Reject;
  }
  let opts = ResizeOptions {
    width: Some(OUT),
    height: Some(OUT),
    limit_input_pixels: LIMIT_INPUT_PIXELS,
    ..ResizeOptions::default()
  };
  match image::resize(data, &opts, &Cancel::never()) {
    Ok(out) => {
      // The default fit is cover: exactly OUT x OUT, GIF re-encoded as PNG.
      let expected = if format == Format::Gif { Format::Png } else { format };
      let m = image::metadata(&out).unwrap_or_else(|e| panic!("resize produced unreadable output: {e}"));
      assert_eq!((m.format, m.width, m.height), (expected, OUT, OUT), "resize output has the wrong shape");
    }
    Err(e) => assert!(input_error(e.code), "resize failed with a non-input error: {e}"),
  }
  Corpus::Keep
}

/// The resque side: payload parsing, native job specs and failure records.
pub fn check_resque_entry(entry: &str) {
  use rusque_core::resque::{job, payload};
  use serde_json::{Map, Value};

  let recorded = match payload::parse(entry) {
    Ok(p) => {
      assert!(!p.class.is_empty(), "parsed an empty class");
      for kind in [job::Kind::Resize, job::Kind::Metadata, job::Kind::Hash] {
        if let Err(e) = job::NativeJob::new(kind, Map::new()).spec(&p.args) {
          assert_eq!(e.code, Code::InvalidArg, "spec failed with a non-argument error: {e}");
        }
      }
      p.raw
    }
    Err(_) => payload::unparsable(entry),
  };
  let failure = payload::failure("host:1:q", "q", &recorded, "Error", "message", "Thu Jan 01 1970");
  let back: Value = serde_json::from_str(&failure).expect("failure record is JSON");
  assert!(back.get("payload").is_some(), "failure record lost its payload");
}
