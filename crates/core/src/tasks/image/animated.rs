//! Animated resize (sharp's `animated: true`): every frame of an animated
//! GIF or WebP goes through the same operations as a still image
//! (`transform`: orient, extract, rotate, flip, flop, resize, filters,
//! composite) and into an animated GIF or WebP, keeping each frame's delay
//! and the loop count unless `delay` or `loop` say otherwise.
//!
//! One frame at a time: the decoder composes each frame on its canvas and
//! hands it over, the frame is transformed and given to the encoder, which
//! keeps its output (and libwebp its previous canvas), so memory follows
//! one or two frames plus the output, not the frame count. Every frame is
//! a cancellation checkpoint. `limitInputPixels` counts every frame's
//! pixels, checked from the container before anything is decoded.

use std::io::Cursor;

use image::{AnimationDecoder, ImageDecoder};

use super::decode::{decode_limits, Pixels, CHANGED};
use super::gif_encode::GifWriter;
use super::header::{self, map_image_error, Header};
use super::webp_anim::WebpAnimWriter;
use super::{plausible, timing, transform, Delay, Encoded, Format, OutputInfo, Prepared, ResizeOptions};
use crate::error::{Error, Result};
use crate::pool::Cancel;

/// What an animated resize refuses before decoding, `format` being the
/// output's: a pixel count of all frames over the limit, an output format
/// that cannot animate, options it cannot keep, a delay list of the wrong length.
pub fn check(header: &Header, format: Format, opts: &ResizeOptions) -> Result<()> {
  header::check_animation_limit(header, opts.limit_input_pixels)?;
  if !matches!(format, Format::Gif | Format::Webp) {
    return Err(Error::invalid(format!(
      "animated: true writes every frame of this {}-frame {} into an animated GIF or WebP, but format is '{}'; use format 'gif' or 'webp', or leave animated off to resize the first frame only",
      header.frames,
      header.format.name(),
      format.name()
    )));
  }
  if opts.keep_exif || opts.keep_icc_profile {
    return Err(Error::invalid("keepExif, keepIccProfile and keepMetadata are not supported for animated output yet: leave them off, or animated off"));
  }
  if let Some(Delay::Each(d)) = &opts.encode.delay {
    if d.len() != header.frames as usize {
      return Err(Error::invalid(format!(
        "delay has {} entries but the animation has {} frames: give one per frame, or one number for all",
        d.len(),
        header.frames
      )));
    }
  }
  Ok(())
}

/// One decoded frame: the whole canvas, and how long it shows.
type Frame = Result<(Pixels, u32)>;

/// The frames of `data` (GIF or WebP) in order, each composed on the
/// canvas, with the embedded ICC profile. At most `header.frames` are read.
fn frames<'a>(data: &'a [u8], header: &Header) -> Result<(Box<dyn Iterator<Item = Frame> + 'a>, Option<Vec<u8>>)> {
  let format = header.format;
  let bad = move |e| map_image_error(format, e);
  let same_size = |d: (u32, u32)| {
    if d != (header.width, header.height) {
      return Err(Error::corrupt(format!("{} data is corrupt: {CHANGED}", format.name().to_uppercase())));
    }
    Ok(())
  };
  let (inner, icc) = match format {
    Format::Gif => {
      let mut d = image::codecs::gif::GifDecoder::new(Cursor::new(data)).map_err(bad)?;
      same_size(d.dimensions())?;
      d.set_limits(decode_limits(header)).map_err(bad)?;
      (d.into_frames(), None)
    }
    Format::Webp => {
      let mut d = image::codecs::webp::WebPDecoder::new(Cursor::new(data)).map_err(bad)?;
      same_size(d.dimensions())?;
      let icc = d.icc_profile().ok().flatten();
      d.set_limits(decode_limits(header)).map_err(bad)?;
      (d.into_frames(), icc)
    }
    other => return Err(Error::internal(format!("{} has no animated decoder", other.name()))),
  };
  let rgb = !header.has_alpha;
  let frames = inner.take(header.frames as usize).map(move |f| {
    let f = f.map_err(bad)?;
    let (numer, denom) = f.delay().numer_denom_ms();
    let delay = if denom == 0 { 0 } else { numer / denom };
    let buffer = f.into_buffer();
    let (width, height) = buffer.dimensions();
    let pixels = if rgb {
      let data = buffer.into_raw().chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]).collect();
      Pixels { data, width, height, channels: 3 }
    } else {
      Pixels { data: buffer.into_raw(), width, height, channels: 4 }
    };
    Ok((pixels, delay))
  });
  Ok((Box::new(frames), icc))
}

/// The animated encoder for the output format.
enum Writer {
  Gif(GifWriter),
  Webp(WebpAnimWriter),
}

impl Writer {
  fn add(&mut self, img: &Pixels, delay: u32, cancel: &Cancel) -> Result<()> {
    match self {
      Writer::Gif(w) => w.add(img, delay, cancel),
      Writer::Webp(w) => w.add(img, delay),
    }
  }

  fn finish(self) -> Result<Vec<u8>> {
    match self {
      Writer::Gif(w) => w.finish(),
      Writer::Webp(w) => w.finish(),
    }
  }
}

/// Resizes every frame of `data`, prepared (and checked) as `p`.
pub fn resize(data: &[u8], header: &Header, p: &Prepared, opts: &ResizeOptions, cancel: &Cancel) -> Result<Encoded> {
  plausible::check(data, header)?;
  let timing = timing::read(data, header.format);
  if timing.as_ref().is_some_and(|t| t.truncated) {
    return Err(Error::corrupt(format!("{} animation is truncated: its last frame's data ends early", header.format.name())));
  }
  let plays = opts.encode.loop_count.unwrap_or_else(|| timing.map_or(0, |t| t.loop_count));
  let (width, height) = p.plan.canvas;
  let mut writer = match p.format {
    Format::Gif => Writer::Gif(GifWriter::new(width, height, opts.encode.gif, plays, true)?),
    Format::Webp => Writer::Webp(WebpAnimWriter::new(width, height, &opts.encode, plays)?),
    other => return Err(Error::internal(format!("{} output cannot animate", other.name()))),
  };
  cancel.check()?;
  let (frames, icc) = frames(data, header)?;
  let mut pages = 0u32;
  let mut channels = 3;
  for frame in frames {
    cancel.check()?;
    let (pixels, delay) = frame?;
    let delay = match &opts.encode.delay {
      None => delay,
      Some(Delay::All(d)) => *d,
      Some(Delay::Each(d)) => d.get(pages as usize).copied().unwrap_or(delay),
    };
    let out = transform(pixels, icc.as_deref(), p, opts, cancel)?;
    cancel.check()?;
    writer.add(&out, delay, cancel)?;
    channels = out.channels;
    pages += 1;
  }
  if pages == 0 {
    return Err(Error::corrupt(format!("{} animation has no frame that decodes", header.format.name())));
  }
  let bytes = writer.finish()?;
  cancel.check()?;
  let info = OutputInfo { format: p.format, width, height: height.saturating_mul(pages), channels, size: bytes.len(), pages: Some((pages, height)) };
  Ok(Encoded { bytes, info })
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::error::Code;
  use crate::tasks::image::{resize_with_info, Palette};

  /// A 48x32 frame: a horizontal gradient in a colour of its own per frame.
  fn frame(i: u32, alpha: bool) -> Pixels {
    let (w, h) = (48u32, 32u32);
    let base = [[220, 40, 40], [40, 200, 60], [50, 70, 230], [230, 200, 40]][i as usize % 4];
    let data = (0..w * h)
      .flat_map(|p| {
        let x = p % w;
        let rgb = base.map(|c: u32| (c * (w + x) / (2 * w)) as u8);
        let a = if alpha && x < 8 { 0 } else { 255 };
        [rgb[0], rgb[1], rgb[2], a]
      })
      .collect();
    Pixels { data, width: w, height: h, channels: 4 }
  }

  pub(crate) fn animated_gif(delays: &[u32], plays: u32) -> Vec<u8> {
    let mut w = GifWriter::new(48, 32, Palette { colours: 256, dither: 0.0 }, plays, true).unwrap();
    for (i, &d) in delays.iter().enumerate() {
      w.add(&frame(i as u32, false), d, &Cancel::never()).unwrap();
    }
    w.finish().unwrap()
  }

  pub(crate) fn animated_webp(delays: &[u32], plays: u32, alpha: bool) -> Vec<u8> {
    let mut w = WebpAnimWriter::new(48, 32, &crate::tasks::image::Encode { lossless: true, ..Default::default() }, plays).unwrap();
    for (i, &d) in delays.iter().enumerate() {
      w.add(&frame(i as u32, alpha), d).unwrap();
    }
    w.finish().unwrap()
  }

  fn opts(v: serde_json::Value) -> ResizeOptions {
    match crate::spec::task(crate::spec::TaskName::Resize, &v, &[]).unwrap() {
      crate::tasks::Task::Resize(o) => o,
      other => panic!("{other:?}"),
    }
  }

  fn decoded(bytes: &[u8]) -> Vec<(Pixels, u32)> {
    let h = header::read(bytes).unwrap();
    frames(bytes, &h).unwrap().0.collect::<Result<Vec<_>>>().unwrap()
  }

  /// Mean absolute difference per channel value of two RGB(A) images' colour.
  fn mean_diff(a: &Pixels, b: &Pixels) -> f64 {
    let (ca, cb) = (usize::from(a.channels), usize::from(b.channels));
    let n = (a.width * a.height) as usize;
    let total: u64 = (0..n).flat_map(|i| (0..3).map(move |c| (i, c))).map(|(i, c)| u64::from(a.data[i * ca + c].abs_diff(b.data[i * cb + c]))).sum();
    total as f64 / (n * 3) as f64
  }

  #[test]
  fn every_frame_is_resized_with_its_delay_and_the_loop() {
    let never = Cancel::never();
    for (input, format) in [(animated_gif(&[70, 120, 30], 3), "gif"), (animated_webp(&[100, 40, 250], 0, false), "webp")] {
      let src = header::read(&input).unwrap();
      let want = timing::read(&input, src.format).unwrap();
      for out_format in ["gif", "webp"] {
        let o = opts(serde_json::json!({ "animated": true, "width": 24, "format": out_format }));
        let e = resize_with_info(&input, &o, &never).unwrap();
        let h = header::read(&e.bytes).unwrap();
        assert_eq!((h.format.name(), h.width, h.height, h.frames), (out_format, 24, 16, 3), "{format} to {out_format}");
        assert_eq!(timing::read(&e.bytes, h.format).unwrap(), want, "{format} to {out_format}");
        assert_eq!((e.info.width, e.info.height, e.info.pages), (24, 48, Some((3, 16))));
        // Each frame is its own input frame, resized.
        for (i, ((got, _), (src, _))) in decoded(&e.bytes).iter().zip(decoded(&input)).enumerate() {
          let want = crate::tasks::image::resize::resample(src, &crate::tasks::image::resize::plan(48, 32, Some(24), None, Default::default(), (0.5, 0.5), false).unwrap(), Default::default()).unwrap();
          let d = mean_diff(got, &want);
          assert!(d < 6.0, "{format} to {out_format}, frame {i}: mean difference {d}");
        }
      }
    }
  }

  #[test]
  fn without_animated_the_first_frame_is_used() {
    let input = animated_gif(&[70, 120], 0);
    let e = resize_with_info(&input, &opts(serde_json::json!({ "format": "gif" })), &Cancel::never()).unwrap();
    assert_eq!(header::read(&e.bytes).unwrap().frames, 1);
    assert_eq!(e.info.pages, None);
    // A GIF without a format is still PNG, unless animated.
    let png = resize_with_info(&input, &opts(serde_json::json!({})), &Cancel::never()).unwrap();
    assert_eq!(png.info.format, Format::Png);
    let gif = resize_with_info(&input, &opts(serde_json::json!({ "animated": true })), &Cancel::never()).unwrap();
    assert_eq!((gif.info.format, gif.info.pages), (Format::Gif, Some((2, 32))));
  }

  #[test]
  fn loop_and_delay_override_the_inputs() {
    let input = animated_webp(&[100, 40, 250], 0, true);
    let never = Cancel::never();
    let e = resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "loop": 2, "delay": 50 })), &never).unwrap();
    assert_eq!(timing::read(&e.bytes, Format::Webp).unwrap(), timing::Timing { pages: 3, delay: vec![50; 3], loop_count: 2, truncated: false });
    let e = resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "format": "gif", "delay": [10, 20, 30] })), &never).unwrap();
    assert_eq!(timing::read(&e.bytes, Format::Gif).unwrap(), timing::Timing { pages: 3, delay: vec![10, 20, 30], loop_count: 0, truncated: false });
    let e = resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "delay": [10, 20] })), &never).unwrap_err();
    assert_eq!(e.code, Code::InvalidArg);
    assert!(e.message.starts_with("delay has 2 entries but the animation has 3 frames"), "{}", e.message);
    // Transparency survives into GIF: the left columns stay clear.
    let e = resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "format": "gif" })), &never).unwrap();
    let (first, _) = &decoded(&e.bytes)[0];
    assert_eq!((first.data[3], first.data[47 * 4 + 3]), (0, 255));
  }

  #[test]
  fn refusals_before_decoding() {
    let input = animated_gif(&[10, 10, 10, 10], 0);
    let never = Cancel::never();
    let e = resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "format": "png" })), &never).unwrap_err();
    assert_eq!(e.code, Code::InvalidArg);
    assert!(e.message.starts_with("animated: true writes every frame of this 4-frame gif"), "{}", e.message);
    let e = resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "keepExif": true })), &never).unwrap_err();
    assert_eq!(e.code, Code::InvalidArg);
    // 48x32 is 1536 pixels a frame, but each frame counts as at least 128x128: 65536 for four.
    let e = resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "limitInputPixels": 65535 })), &never).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded);
    assert!(e.message.contains("48x32 in 4 frames, each frame counted as at least 16384 (65536 pixels)"), "{}", e.message);
    assert!(resize_with_info(&input, &opts(serde_json::json!({ "animated": true, "limitInputPixels": 65536 })), &never).is_ok());
    // Without animated only the first frame counts.
    assert!(resize_with_info(&input, &opts(serde_json::json!({ "limitInputPixels": 1536 })), &never).is_ok());
    // A cancelled job stops at a frame.
    let cancel = Cancel::new();
    cancel.cancel();
    assert_eq!(resize_with_info(&input, &opts(serde_json::json!({ "animated": true })), &cancel).unwrap_err().code, Code::Aborted);
  }

  #[test]
  fn operations_apply_to_every_frame() {
    let input = animated_webp(&[10, 20], 0, false);
    let o = opts(serde_json::json!({ "animated": true, "extract": { "left": 0, "top": 0, "width": 24, "height": 32 }, "rotate": 90, "flop": true, "greyscale": true, "blur": 1 }));
    let e = resize_with_info(&input, &o, &Cancel::never()).unwrap();
    let frames = decoded(&e.bytes);
    assert_eq!(frames.len(), 2);
    for (f, _) in &frames {
      assert_eq!((f.width, f.height), (32, 24));
      assert!(f.data.chunks_exact(f.channels.into()).all(|p| p[0].abs_diff(p[1]) <= 2 && p[1].abs_diff(p[2]) <= 2), "grey");
    }
  }

  fn any_animated() -> ResizeOptions {
    opts(serde_json::json!({ "animated": true, "width": 20 }))
  }

  #[test]
  fn truncated_animations_are_coded_errors() {
    let never = Cancel::never();
    for input in [animated_gif(&[10, 20, 30], 0), animated_webp(&[10, 20, 30], 0, true)] {
      let format = header::read(&input).unwrap().format;
      for cut in 0..input.len() {
        match resize_with_info(&input[..cut], &any_animated(), &never) {
          Ok(e) => assert!(e.info.pages.unwrap_or((1, 0)).0 <= 3),
          Err(e) => assert!(matches!(e.code, Code::CorruptInput | Code::UnsupportedFormat), "{format:?} cut at {cut}: {e:?}"),
        }
      }
      // Cut inside the last frame: refused, not two frames of three.
      let e = resize_with_info(&input[..input.len() - 10], &any_animated(), &never).unwrap_err();
      assert_eq!(e.code, Code::CorruptInput, "{format:?}: {}", e.message);
    }
  }

  /// A GIF with a `sw`x`sh` screen and these frames (left, top, width,
  /// height) of palette entry 0, with no delay.
  fn gif_with_frames(sw: u16, sh: u16, frames: &[(u16, u16, u16, u16)]) -> Vec<u8> {
    let mut e = gif::Encoder::new(Vec::new(), sw, sh, &[0, 0, 0, 255, 255, 255]).unwrap();
    for &(left, top, width, height) in frames {
      let buffer = vec![0u8; usize::from(width) * usize::from(height)];
      e.write_frame(&gif::Frame { left, top, width, height, buffer: buffer.into(), ..gif::Frame::default() }).unwrap();
    }
    e.into_inner().unwrap()
  }

  #[test]
  fn a_frame_larger_than_the_screen_is_refused_before_its_buffer() {
    let never = Cancel::never();
    let mut g = gif_with_frames(16, 12, &[(0, 0, 16, 12), (0, 0, 16, 12)]);
    // The second descriptor claims 65535x65535 (17 GB of RGBA) behind a 16x12 screen.
    let at = g.iter().rposition(|&b| b == 0x2C).unwrap();
    g[at + 5..at + 9].copy_from_slice(&[0xFF; 4]);
    let e = resize_with_info(&g, &any_animated(), &never).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded, "{e:?}");
    // Past the screen's edge only: clipped to the screen.
    let g = gif_with_frames(16, 12, &[(0, 0, 16, 12), (10, 8, 16, 12)]);
    let r = resize_with_info(&g, &any_animated(), &never);
    assert!(r.as_ref().map_or_else(|e| e.code == Code::CorruptInput, |e| e.info.pages == Some((2, 15))), "{r:?}");
  }

  #[test]
  fn a_thousand_zero_delay_frames() {
    let never = Cancel::never();
    let frames = vec![(0, 0, 2, 2); 1000];
    // On a small screen: every frame is kept, each with its zero delay.
    let g = gif_with_frames(2, 2, &frames);
    let e = resize_with_info(&g, &opts(serde_json::json!({ "animated": true, "width": 1 })), &never).unwrap();
    let t = timing::read(&e.bytes, Format::Gif).unwrap();
    assert_eq!((t.pages, t.delay.iter().all(|&d| d == 0)), (1000, true));
    // On a 4000x4000 screen (a file of 23 kB): 16 billion pixels to
    // compose, refused from the header under the default limit.
    let g = gif_with_frames(4000, 4000, &frames);
    assert!(g.len() < 25_000);
    let e = resize_with_info(&g, &any_animated(), &never).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded);
    assert!(e.message.contains("4000x4000 in 1000 frames"), "{}", e.message);
    // 20000 frames of 1x1 (460 kB): the encoder's cost per frame counts,
    // 128x128 pixels each, so the default limit refuses them.
    let g = gif_with_frames(1, 1, &vec![(0, 0, 1, 1); 20_000]);
    let e = resize_with_info(&g, &any_animated(), &never).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded, "{}", e.message);
    assert!(e.message.contains("1x1 in 20000 frames, each frame counted as at least 16384"), "{}", e.message);
  }

  #[test]
  fn frame_counts_come_from_the_frames_the_file_holds() {
    let never = Cancel::never();
    // An ANMF chunk claiming 4 GB counts as missing data, not as frames:
    // with two frames before it, the animation is refused as truncated...
    let mut w = animated_webp(&[10, 20, 30], 0, false);
    let at = w.windows(4).rposition(|c| c == b"ANMF").unwrap();
    w[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(header::read(&w).unwrap().frames, 2);
    let e = resize_with_info(&w, &any_animated(), &never).unwrap_err();
    assert_eq!(e.code, Code::CorruptInput, "{}", e.message);
    // ...and with one before it, there is no animation left: the frame it holds.
    let mut w = animated_webp(&[10, 20], 0, false);
    let at = w.windows(4).rposition(|c| c == b"ANMF").unwrap();
    w[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(resize_with_info(&w, &any_animated(), &never).unwrap().info.pages, None);
  }
}
