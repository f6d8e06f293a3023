//! GIF output, still and animated, with the `gif` crate (MIT/Apache-2.0,
//! the image crate's GIF codec) writing what palette.rs's NeuQuant
//! quantiser (`colours`, `dither`) gives each frame: a local colour table
//! per frame, so no frame's colours are squeezed into another's.
//!
//! GIF has one-bit transparency: a pixel under half opacity becomes the
//! frame's transparent entry, the others opaque. Frames are whole canvases;
//! each is disposed to the background before the next, so a transparent
//! pixel in a later frame shows nothing rather than the frame before it.
//! Frames are written as they come: the encoder holds the output only.

use std::borrow::Cow;

use super::decode::Pixels;
use super::encode::Palette;
use super::limits::check_sides;
use super::palette;
use super::Format;
use crate::error::{Error, Result};
use crate::pool::Cancel;

/// GIF stores delays in hundredths of a second, in 16 bits.
pub fn hundredths(ms: u32) -> u16 {
  (ms.saturating_add(5) / 10).min(u32::from(u16::MAX)) as u16
}

fn failed(e: gif::EncodingError) -> Error {
  Error::internal(format!("GIF encoding failed: {e}"))
}

/// An animated (or still) GIF being written, frame by frame.
pub struct GifWriter {
  encoder: gif::Encoder<Vec<u8>>,
  width: u16,
  height: u16,
  palette: Palette,
  animated: bool,
}

impl GifWriter {
  /// A GIF of `width`x`height` frames that plays `plays` times (0: forever).
  pub fn new(width: u32, height: u32, palette: Palette, plays: u32, animated: bool) -> Result<GifWriter> {
    check_sides(Format::Gif, width, height)?;
    let (w, h) = (width as u16, height as u16);
    let mut encoder = gif::Encoder::new(Vec::new(), w, h, &[]).map_err(failed)?;
    // The NETSCAPE block counts repeats after the first play; without it a
    // GIF plays once (as timing.rs reads it, and libvips).
    match plays {
      0 => encoder.set_repeat(gif::Repeat::Infinite).map_err(failed)?,
      1 => {}
      n => encoder.set_repeat(gif::Repeat::Finite(u16::try_from(n - 1).unwrap_or(u16::MAX))).map_err(failed)?,
    }
    Ok(GifWriter { encoder, width: w, height: h, palette, animated })
  }

  /// Quantises `img` (RGB or RGBA, the writer's size) and writes it as the
  /// next frame, shown for `delay_ms`.
  pub fn add(&mut self, img: &Pixels, delay_ms: u32, cancel: &Cancel) -> Result<()> {
    if (img.width, img.height) != (u32::from(self.width), u32::from(self.height)) {
      return Err(Error::internal("GIF frame size differs from the animation's"));
    }
    let clear = img.channels == 4 && img.data.chunks_exact(4).any(|px| px[3] < 128);
    // The quantiser sees opaque colours only; the transparent entry is
    // added after its palette.
    let opaque = if img.channels == 4 && img.data.chunks_exact(4).any(|px| px[3] < 255) {
      let data = img.data.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2], 255]).collect();
      Cow::Owned(Pixels { data, width: img.width, height: img.height, channels: 4 })
    } else {
      Cow::Borrowed(img)
    };
    let colours = if clear { self.palette.colours.saturating_sub(1).max(2) } else { self.palette.colours };
    let q = palette::quantise(&opaque, Palette { colours, ..self.palette }, cancel)?;
    let mut rgb = q.rgb;
    let mut indices = q.indices;
    let transparent = if clear {
      let t = (rgb.len() / 3) as u8;
      rgb.extend_from_slice(&[0, 0, 0]);
      for (i, px) in indices.iter_mut().zip(img.data.chunks_exact(4)) {
        if px[3] < 128 {
          *i = t;
        }
      }
      Some(t)
    } else {
      None
    };
    cancel.check()?;
    let frame = gif::Frame {
      delay: hundredths(delay_ms),
      dispose: if self.animated { gif::DisposalMethod::Background } else { gif::DisposalMethod::Any },
      transparent,
      width: self.width,
      height: self.height,
      palette: Some(rgb),
      buffer: Cow::Owned(indices),
      ..gif::Frame::default()
    };
    self.encoder.write_frame(&frame).map_err(failed)
  }

  pub fn finish(self) -> Result<Vec<u8>> {
    self.encoder.into_inner().map_err(failed)
  }
}

/// A still GIF of `img`.
pub fn still(img: &Pixels, palette: Palette, cancel: &Cancel) -> Result<Vec<u8>> {
  let mut w = GifWriter::new(img.width, img.height, palette, 1, false)?;
  w.add(img, 0, cancel)?;
  w.finish()
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::tasks::image::{header, timing};

  fn frame(w: u32, h: u32, px: [u8; 4]) -> Pixels {
    Pixels { data: px.repeat((w * h) as usize), width: w, height: h, channels: 4 }
  }

  fn decode_all(bytes: &[u8]) -> Vec<(Vec<u8>, u32)> {
    use image::AnimationDecoder;
    let d = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    d.into_frames()
      .map(|f| {
        let f = f.unwrap();
        let (n, den) = f.delay().numer_denom_ms();
        (f.into_buffer().into_raw(), n / den)
      })
      .collect()
  }

  #[test]
  fn frames_delays_loop_and_transparency_survive() {
    let never = Cancel::never();
    let p = Palette { colours: 256, dither: 1.0 };
    let mut w = GifWriter::new(4, 3, p, 3, true).unwrap();
    w.add(&frame(4, 3, [255, 0, 0, 255]), 70, &never).unwrap();
    let mut half = frame(4, 3, [0, 0, 255, 255]);
    half.data[..4].copy_from_slice(&[9, 9, 9, 0]);
    w.add(&half, 120, &never).unwrap();
    let bytes = w.finish().unwrap();
    assert_eq!(timing::read(&bytes, Format::Gif), Some(timing::Timing { pages: 2, delay: vec![70, 120], loop_count: 3, truncated: false }));
    let h = header::read(&bytes).unwrap();
    assert_eq!((h.width, h.height, h.frames), (4, 3, 2));
    let frames = decode_all(&bytes);
    assert_eq!(frames.len(), 2);
    assert_eq!(&frames[0].0[..4], &[255, 0, 0, 255]);
    // The transparent pixel shows nothing, not the red frame before it.
    assert_eq!(frames[1].0[3], 0);
    assert_eq!(&frames[1].0[4..8], &[0, 0, 255, 255]);
  }

  #[test]
  fn loop_counts_round_trip() {
    for plays in [0, 1, 2, 65535] {
      let mut w = GifWriter::new(1, 1, Palette { colours: 2, dither: 0.0 }, plays, true).unwrap();
      w.add(&frame(1, 1, [1, 2, 3, 255]), 10, &Cancel::never()).unwrap();
      let t = timing::read(&w.finish().unwrap(), Format::Gif).unwrap();
      assert_eq!(t.loop_count, plays);
    }
  }

  #[test]
  fn delays_in_hundredths() {
    assert_eq!((hundredths(0), hundredths(4), hundredths(5), hundredths(16_777_215)), (0, 0, 1, u16::MAX));
  }

  #[test]
  fn sides_past_16_bits_are_refused() {
    let e = GifWriter::new(70_000, 1, Palette { colours: 2, dither: 0.0 }, 1, false).err().unwrap();
    assert_eq!(e.code, crate::error::Code::LimitExceeded);
    assert!(e.message.starts_with("GIF output is limited to 65535x65535"), "{}", e.message);
  }
}
