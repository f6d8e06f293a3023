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

/// The animated paths: every frame of a GIF or WebP input decoded, resized
/// and written as an animated GIF or WebP (which one by the input's length,
/// so each target reaches both encoders). The output must be an animation
/// of as many frames as the task reported, each OUT x OUT.
pub fn check_resize_animated(data: &[u8], format: Format) -> Corpus {
  if header::sniff(data) != Some(format) {
    return Corpus::Reject;
  }
  let out_format = if data.len() % 2 == 0 { Format::Gif } else { Format::Webp };
  let opts = ResizeOptions {
    width: Some(OUT),
    height: Some(OUT),
    animated: true,
    format: Some(out_format),
    limit_input_pixels: LIMIT_INPUT_PIXELS,
    ..ResizeOptions::default()
  };
  match image::resize_with_info(data, &opts, &Cancel::never()) {
    Ok(e) => {
      let h = header::read(&e.bytes).unwrap_or_else(|err| panic!("animated resize produced unreadable output: {err}"));
      assert_eq!((h.format, h.width, h.height), (out_format, OUT, OUT), "animated resize output has the wrong shape");
      let pages = e.info.pages.map_or(1, |p| p.0);
      // libwebp merges a frame identical to the one before it.
      assert!(h.frames == pages || (out_format == Format::Webp && h.frames < pages), "{} frames written, {pages} reported", h.frames);
    }
    Err(e) => assert!(input_error(e.code), "animated resize failed with a non-input error: {e}"),
  }
  Corpus::Keep
}

/// The resque side: payload parsing, native job specs and failure records.
pub fn check_resque_entry(entry: &str) {
  use rusque_resque::{job, payload};
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

/// Most output pixels the options target allows, so that a successful
/// execution stays cheap; every larger request must come back refused.
pub const OPTIONS_MAX_OUTPUT_PIXELS: u64 = 1 << 18;

/// Tiny images with extreme options: a small input (up to 65536 pixels, but as
/// thin as 1x16383) built from the fuzz bytes and encoded with rusque's own
/// encoders, resized with sizes up to 65535 a side, every fit, kernel and
/// output format, and pixel limits. The result must be an image of the plan's
/// size within the limits, or ERR_LIMIT_EXCEEDED; never a panic or an abort.
///
/// Layout: `[format+alpha, width side, height side, flags, width u16 (2),
/// height u16 (2), fit, kernel, output format, quality, position,
/// output limit, input limit, pixel bytes...]`.
pub fn check_resize_options(data: &[u8]) -> Corpus {
  use rusque_core::tasks::image::decode::Pixels;
  use rusque_core::tasks::image::{encode, resize::plan, Fit, Kernel};

  let Some((head, fill)) = data.split_first_chunk::<15>() else { return Corpus::Reject };
  // Mostly small sides, sometimes a long one, so that thin strips come up.
  let side = |b: u8| -> u32 {
    match b {
      0..=239 => 1 + u32::from(b % 32),
      _ => [255, 1024, 4096, 16383][usize::from(b % 4)],
    }
  };
  let in_format = [Format::Png, Format::Jpeg, Format::Webp][usize::from(head[0] % 3)];
  let channels: u8 = if in_format != Format::Jpeg && head[0] & 0x80 != 0 { 4 } else { 3 };
  let iw = side(head[1]);
  let ih = side(head[2]).min((1 << 16) / iw).max(1);
  let len = (iw * ih) as usize * usize::from(channels);
  let bytes: Vec<u8> = if fill.is_empty() { vec![128; len] } else { fill.iter().copied().cycle().take(len).collect() };
  let Ok(input) = encode::encode(&Pixels { data: bytes, width: iw, height: ih, channels }, in_format, &image::Encode { quality: 90, ..Default::default() }, &Cancel::never()) else {
    return Corpus::Reject;
  };

  let flags = head[3];
  // 0 reads as 65535, the largest size, which the fuzzer would rarely hit otherwise.
  let size = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
    0 => 65_535,
    n => u32::from(n),
  };
  let opts = ResizeOptions {
    width: (flags & 1 != 0).then(|| size(head[4], head[5])),
    height: (flags & 2 != 0).then(|| size(head[6], head[7])),
    fit: [Fit::Cover, Fit::Contain, Fit::Fill, Fit::Inside, Fit::Outside][usize::from(head[8] % 5)],
    position: (f64::from(head[12] % 3) / 2.0, f64::from(head[12] / 3 % 3) / 2.0),
    background: if flags & 4 != 0 { [0, 0, 0, 0] } else { [255, 255, 255, 255] },
    without_enlargement: flags & 8 != 0,
    kernel: [Kernel::Nearest, Kernel::Linear, Kernel::Cubic, Kernel::Mitchell, Kernel::Lanczos3][usize::from(head[9] % 5)],
    format: [None, Some(Format::Jpeg), Some(Format::Png), Some(Format::Webp), Some(Format::Avif)][usize::from(head[10] % 5)],
    encode: image::Encode { quality: 1 + head[11] % 100, progressive: flags & 32 != 0, ..Default::default() },
    auto_orient: flags & 16 != 0,
    animated: false,
    limit_output_pixels: [None, Some(1), Some(4096), Some(OPTIONS_MAX_OUTPUT_PIXELS)][usize::from(head[13] % 4)],
    limit_input_pixels: [OPTIONS_MAX_OUTPUT_PIXELS, 64, 1 << 16][usize::from(head[14] % 3)],
    steps: Default::default(),
    resolve_with_object: false,
    // Kept metadata: the inputs here carry none, so the output's geometry is unchanged.
    keep_exif: flags & 64 != 0 && opts_format_takes_metadata(head[10]),
    keep_icc_profile: flags & 128 != 0 && opts_format_takes_metadata(head[10]),
  };
  let limit = opts.effective_limit_output_pixels();
  assert!(limit > 0 && limit <= OPTIONS_MAX_OUTPUT_PIXELS);

  match image::resize(&input, &opts, &Cancel::never()) {
    Ok(out) => {
      let expected = plan(iw, ih, opts.width, opts.height, opts.fit, opts.position, opts.without_enlargement)
        .unwrap_or_else(|e| panic!("resize succeeded where the plan fails: {e}"));
      let m = image::metadata(&out).unwrap_or_else(|e| panic!("resize produced unreadable output: {e}"));
      assert_eq!((m.format, m.width, m.height), (opts.format.unwrap_or(in_format), expected.canvas.0, expected.canvas.1), "{opts:?}");
      assert!(u64::from(m.width) * u64::from(m.height) <= limit, "output over the limit: {m:?} {opts:?}");
    }
    Err(e) => assert_eq!(e.code, Code::LimitExceeded, "{opts:?} on {iw}x{ih} {in_format:?}: {e}"),
  }
  Corpus::Keep
}

/// Whether the output format byte of check_resize_options picks a format
/// that carries kept metadata (AVIF refuses it).
fn opts_format_takes_metadata(b: u8) -> bool {
  b % 5 != 4
}

/// The operations around the resize (extract, rotate by any angle, flip,
/// flop, blur, sharpen, greyscale) on a generated image: the result is an
/// image of the planned size, or a coded refusal (an extract outside the
/// image, a limit); never a panic or another error.
pub fn check_resize_steps(data: &[u8]) -> Corpus {
  use rusque_core::tasks::image::decode::Pixels;
  use rusque_core::tasks::image::ops::{Mask, Region, Sharpen};
  use rusque_core::tasks::image::steps::Steps;
  use rusque_core::tasks::image::{encode, resize::plan};
  let Some((head, _)) = data.split_first_chunk::<16>() else { return Corpus::Reject };
  let (iw, ih) = (1 + u32::from(head[0] % 64), 1 + u32::from(head[1] % 64));
  let bytes: Vec<u8> = (0..iw * ih * 3).map(|i| (i % 251) as u8).collect();
  let Ok(input) = encode::encode(&Pixels { data: bytes, width: iw, height: ih, channels: 3 }, Format::Png, &image::Encode::default(), &Cancel::never()) else {
    return Corpus::Reject;
  };
  let flags = head[2];
  let steps = Steps {
    extract: (flags & 1 != 0).then(|| Region { left: u32::from(head[3] % 70), top: u32::from(head[4] % 70), width: u32::from(head[5] % 70), height: u32::from(head[6] % 70) }),
    rotate: (flags & 2 != 0).then(|| f64::from(i16::from_be_bytes([head[7], head[8]])) / 7.0),
    flip: flags & 4 != 0,
    flop: flags & 8 != 0,
    blur: (flags & 16 != 0).then(|| 0.3 + f64::from(head[9]) / 4.0),
    sharpen: (flags & 32 != 0).then(|| if head[10] == 0 { Sharpen::Mild } else { Sharpen::Mask(Mask { sigma: 0.01 + f64::from(head[10]) / 30.0, ..Mask::default() }) }),
    greyscale: flags & 64 != 0,
    composite: Vec::new(),
  };
  let opts = ResizeOptions {
    width: (flags & 128 != 0).then(|| 1 + u32::from(head[11] % 80)),
    background: [head[12], head[13], head[14], head[15]],
    steps,
    ..ResizeOptions::default()
  };
  match image::resize(&input, &opts, &Cancel::never()) {
    Ok(out) => {
      let (sw, sh) = opts.steps.source_size(iw, ih).unwrap_or_else(|e| panic!("resize succeeded where the steps fail: {e}"));
      let expected = plan(sw, sh, opts.width, None, opts.fit, opts.position, false).unwrap_or_else(|e| panic!("no plan: {e}"));
      let m = image::metadata(&out).unwrap_or_else(|e| panic!("unreadable output: {e}"));
      assert_eq!((m.width, m.height), expected.canvas, "{opts:?} on {iw}x{ih}");
    }
    Err(e) => assert!(matches!(e.code, Code::InvalidArg | Code::LimitExceeded), "{opts:?} on {iw}x{ih}: {e}"),
  }
  Corpus::Keep
}

/// A composite overlay made of the fuzzer's bytes (any format the sniffer
/// takes: the corpus holds PNG, JPEG, WebP and GIF seeds) onto a small PNG,
/// placed and blended as the first bytes say: the result is the base's size,
/// or an error with an input code that names the overlay.
pub fn check_resize_composite(data: &[u8]) -> Corpus {
  use rusque_core::tasks::image::composite::{Blend, Overlay, Place, Source};
  use rusque_core::tasks::image::decode::Pixels;
  use rusque_core::tasks::image::steps::Steps;
  let Some((head, overlay)) = data.split_first_chunk::<6>() else { return Corpus::Reject };
  if header::sniff(overlay).is_none() {
    return Corpus::Reject;
  }
  let (bw, bh) = (1 + u32::from(head[0] % 48), 1 + u32::from(head[1] % 48));
  let channels = 3 + (head[2] & 1);
  let bytes: Vec<u8> = (0..bw * bh * u32::from(channels)).map(|i| (i % 253) as u8).collect();
  let Ok(base) = image::encode::encode(&Pixels { data: bytes, width: bw, height: bh, channels }, Format::Png, &image::Encode::default(), &Cancel::never())
  else {
    return Corpus::Reject;
  };
  let place = if head[2] & 2 != 0 {
    Place::At { left: i64::from(head[3] as i8) * 3, top: i64::from(head[4] as i8) * 3 }
  } else {
    Place::Gravity((f64::from(head[3] % 3) / 2.0, f64::from(head[4] % 3) / 2.0))
  };
  let blend = Blend::ALL[usize::from(head[5]) % Blend::ALL.len()].1;
  let opts = ResizeOptions {
    limit_input_pixels: LIMIT_INPUT_PIXELS,
    steps: Steps { composite: vec![Overlay { input: Source::Bytes(overlay.into()), place, blend }], ..Steps::default() },
    ..ResizeOptions::default()
  };
  match image::resize(&base, &opts, &Cancel::never()) {
    Ok(out) => {
      let m = image::metadata(&out).unwrap_or_else(|e| panic!("unreadable output: {e}"));
      assert_eq!((m.width, m.height), (bw, bh), "the overlay changed the image's size");
    }
    Err(e) => {
      assert!(input_error(e.code), "composite failed with a non-input error: {e}");
      assert!(e.message.starts_with("composite[0].input: "), "the error does not name the overlay: {e}");
    }
  }
  Corpus::Keep
}
