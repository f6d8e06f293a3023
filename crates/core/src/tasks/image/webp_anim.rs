//! Animated WebP output through libwebp's WebPAnimEncoder (its mux library,
//! built by libwebp-sys with the rest of libwebp; sharp's libvips uses the
//! same encoder). The webp crate's wrapper takes every frame before it
//! encodes any, so the encoder is driven here directly: each frame is
//! encoded as it is added, and the encoder keeps its previous canvas and
//! the encoded frames, not the frames given to it. As in libwebp (and so
//! sharp), a frame identical to the one before it is not stored: the one
//! before shows longer instead.

use libwebp_sys as sys;

use super::decode::Pixels;
use super::encode::{webp_config, Encode};
use super::limits::{check_sides, try_with_capacity};
use super::Format;
use crate::error::{Error, Result};

/// An animated WebP being written, frame by frame.
pub struct WebpAnimWriter {
  encoder: *mut sys::WebPAnimEncoder,
  config: sys::WebPConfig,
  width: u32,
  height: u32,
  /// Where the next frame starts, in milliseconds (libwebp's timestamps
  /// are C ints and may wrap: it reads each frame's duration as the
  /// difference from the one before).
  timestamp: i32,
}

// SAFETY: the encoder is owned by this value alone and used through `&mut
// self`; libwebp keeps no thread-local state for it.
unsafe impl Send for WebpAnimWriter {}

impl Drop for WebpAnimWriter {
  fn drop(&mut self) {
    // SAFETY: `encoder` came from WebPAnimEncoderNewInternal and is deleted once, here.
    unsafe { sys::WebPAnimEncoderDelete(self.encoder) }
  }
}

impl WebpAnimWriter {
  /// An animation of `width`x`height` frames that plays `plays` times
  /// (0: forever), encoded with `settings` (quality, lossless, effort...).
  pub fn new(width: u32, height: u32, settings: &Encode, plays: u32) -> Result<WebpAnimWriter> {
    check_sides(Format::Webp, width, height)?;
    let config = webp_config(settings)?;
    let version = sys::WEBP_MUX_ABI_VERSION as i32;
    let mut options = std::mem::MaybeUninit::<sys::WebPAnimEncoderOptions>::uninit();
    // SAFETY: the init call fills every field of `options` before it is read.
    let encoder = unsafe {
      if sys::WebPAnimEncoderOptionsInitInternal(options.as_mut_ptr(), version) == 0 {
        return Err(Error::internal("WebP animation encoder: options version mismatch"));
      }
      let mut options = options.assume_init();
      options.anim_params.loop_count = plays.min(u32::from(u16::MAX)) as i32;
      // Transparent black, as libvips writes it: shows what is behind the image.
      options.anim_params.bgcolor = 0;
      // Lossy or lossless as the options say, not mixed per frame.
      options.allow_mixed = 0;
      // Key frames only where libwebp must (the first): every other frame is
      // encoded once as a change over the one before, not also as a key
      // frame candidate at libwebp's default spacing (9-17). libvips (so
      // sharp) sets the same; it halves the encoding time.
      options.kmin = i32::MAX - 1;
      options.kmax = i32::MAX;
      sys::WebPAnimEncoderNewInternal(width as i32, height as i32, &options, version)
    };
    if encoder.is_null() {
      return Err(Error::internal("WebP animation encoder could not be created"));
    }
    Ok(WebpAnimWriter { encoder, config, width, height, timestamp: 0 })
  }

  fn error(&self, what: &str) -> Error {
    // SAFETY: the encoder is live; the message is a NUL-terminated string it owns.
    let message = unsafe {
      let p = sys::WebPAnimEncoderGetError(self.encoder);
      if p.is_null() {
        String::new()
      } else {
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
      }
    };
    Error::internal(format!("WebP animation encoding failed ({what}): {message}"))
  }

  /// Encodes `img` (RGB or RGBA, the animation's size) as the next frame,
  /// shown for `delay_ms` (at most 2^24 - 1, WebP's limit).
  pub fn add(&mut self, img: &Pixels, delay_ms: u32) -> Result<()> {
    if (img.width, img.height) != (self.width, self.height) || !(3..=4).contains(&img.channels) {
      return Err(Error::internal("WebP frame size differs from the animation's"));
    }
    let stride = img.width as i32 * i32::from(img.channels);
    // SAFETY: `picture` is initialised by WebPPictureInitInternal before
    // use and freed once; the import reads height rows of `stride` bytes
    // from `img.data`, which holds exactly that many; the encoder copies
    // the picture before Add returns.
    let ok = unsafe {
      let mut picture = std::mem::MaybeUninit::<sys::WebPPicture>::zeroed().assume_init();
      if sys::WebPPictureInitInternal(&mut picture, sys::WEBP_ENCODER_ABI_VERSION as i32) == 0 {
        return Err(Error::internal("WebP picture version mismatch"));
      }
      picture.use_argb = 1;
      picture.width = img.width as i32;
      picture.height = img.height as i32;
      let imported = if img.channels == 4 {
        sys::WebPPictureImportRGBA(&mut picture, img.data.as_ptr(), stride)
      } else {
        sys::WebPPictureImportRGB(&mut picture, img.data.as_ptr(), stride)
      };
      let ok = imported != 0 && sys::WebPAnimEncoderAdd(self.encoder, &mut picture, self.timestamp, &self.config) != 0;
      sys::WebPPictureFree(&mut picture);
      if imported == 0 {
        return Err(Error::new(crate::error::Code::LimitExceeded, "WebP frame could not be allocated"));
      }
      ok
    };
    if !ok {
      return Err(self.error("frame"));
    }
    self.timestamp = self.timestamp.wrapping_add(delay_ms.min(crate::spec::values::MAX_DELAY as u32) as i32);
    Ok(())
  }

  /// The animation's bytes.
  pub fn finish(self) -> Result<Vec<u8>> {
    // SAFETY: the encoder is live; a null frame marks the end (its
    // timestamp gives the last frame's duration). WebPData is filled by
    // Assemble and cleared once, after its bytes are copied.
    unsafe {
      if sys::WebPAnimEncoderAdd(self.encoder, std::ptr::null_mut(), self.timestamp, std::ptr::null()) == 0 {
        return Err(self.error("end"));
      }
      let mut data = std::mem::MaybeUninit::<sys::WebPData>::zeroed().assume_init();
      if sys::WebPAnimEncoderAssemble(self.encoder, &mut data) == 0 {
        return Err(self.error("assemble"));
      }
      let out = try_with_capacity(data.size, "WebP output buffer").map(|mut out| {
        out.extend_from_slice(std::slice::from_raw_parts(data.bytes, data.size));
        out
      });
      sys::WebPDataClear(&mut data);
      out
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::tasks::image::{header, timing};

  fn solid(w: u32, h: u32, px: [u8; 4]) -> Pixels {
    Pixels { data: px.repeat((w * h) as usize), width: w, height: h, channels: 4 }
  }

  #[test]
  fn frames_delays_and_loop_survive() {
    let mut w = WebpAnimWriter::new(8, 6, &Encode::default(), 3).unwrap();
    w.add(&solid(8, 6, [255, 0, 0, 255]), 100).unwrap();
    w.add(&solid(8, 6, [0, 0, 255, 255]), 40).unwrap();
    w.add(&solid(8, 6, [0, 255, 0, 128]), 0).unwrap();
    let bytes = w.finish().unwrap();
    assert_eq!(timing::read(&bytes, Format::Webp), Some(timing::Timing { pages: 3, delay: vec![100, 40, 0], loop_count: 3, truncated: false }));
    let h = header::read(&bytes).unwrap();
    assert_eq!((h.width, h.height, h.frames, h.has_alpha), (8, 6, 3, true));
  }

  #[test]
  fn a_frame_of_another_size_is_refused() {
    let mut w = WebpAnimWriter::new(8, 6, &Encode::default(), 0).unwrap();
    assert!(w.add(&solid(6, 8, [0; 4]), 10).is_err());
  }
}
