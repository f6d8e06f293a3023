//! AVIF input: the primary item's AV1 frame (and its alpha plane) decoded by
//! libaom, the AV1 reference codec (C, BSD-2), compiled from the sources
//! libaom-sys ships (CMake, its x86 assembly through nasm), decoder only.
//! This file is the one place that calls it.
//!
//! Why not rav1d (the Rust port of dav1d): its only entry points are dav1d's
//! C API as `extern "C"` functions, so a panic inside it (a fuzzer found one
//! within 22 inputs) cannot unwind to the pool's catch_unwind and aborts the
//! whole process. libaom reports a bad bitstream as an error code (its
//! internal longjmp stays inside C), which becomes ERR_CORRUPT_INPUT.
//!
//! Each decode runs on the calling pool thread (threads 1: the pool is ours)
//! with a decoder of its own, freed however the call ends. Before libaom
//! sees the data, every sequence header's largest frame size is checked
//! against the header's size, so a bitstream cannot make it allocate for
//! more pixels than `limitInputPixels` was checked against.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::c_int;

use libaom_sys::{
  aom_codec_av1_dx, aom_codec_ctx_t, aom_codec_dec_cfg_t, aom_codec_dec_init_ver, aom_codec_decode, aom_codec_destroy, aom_codec_err_t,
  aom_codec_err_to_string, aom_codec_error_detail, aom_codec_get_frame, aom_image_t, AOM_CICP_MC_BT_2020_CL, AOM_CICP_MC_BT_2020_NCL,
  AOM_CICP_MC_BT_709, AOM_CICP_MC_IDENTITY, AOM_CODEC_MEM_ERROR, AOM_CODEC_OK, AOM_CODEC_UNSUP_BITSTREAM, AOM_CODEC_UNSUP_FEATURE,
  AOM_CR_FULL_RANGE, AOM_DECODER_ABI_VERSION, AOM_IMG_FMT_HIGHBITDEPTH,
};

use super::decode::Pixels;
use super::header::Header;
use super::isobmff;
use super::limits::{buffer_len, try_with_capacity, try_zeroed};
use crate::error::{Code, Error, Result};

pub fn decode(data: &[u8], header: &Header) -> Result<Pixels> {
  let coded = isobmff::coded(data)?;
  let (w, h) = (header.width as usize, header.height as usize);
  let channels: u8 = if coded.alpha.is_some() { 4 } else { 3 };
  let mut out = try_zeroed(buffer_len(header.width, header.height, channels)?, "AVIF decode buffer")?;
  let n = usize::from(channels);
  with_frame(&coded.colour, header, |f| to_rgb(f, &mut out, n))?;
  if let Some(alpha) = &coded.alpha {
    with_frame(alpha, header, |f| {
      for y in 0..h {
        let row = f.row(0, y);
        for (x, px) in out[y * w * n..][..w * n].chunks_exact_mut(n).enumerate() {
          px[3] = f.luma_to_u8(row.get(x));
        }
      }
    })?;
  }
  Ok(Pixels { data: out, width: header.width, height: header.height, channels })
}

/// A decoder instance, destroyed however decoding ends.
struct Decoder(aom_codec_ctx_t);

impl Drop for Decoder {
  fn drop(&mut self) {
    // SAFETY: the context was initialised by aom_codec_dec_init_ver and is destroyed once, here.
    unsafe { aom_codec_destroy(&mut self.0) };
  }
}

/// Decodes the AV1 data in `extents` (the item's pieces, in order) and hands
/// its first frame to `use_frame`, which must not keep it: the frame belongs
/// to the decoder, freed on return.
fn with_frame(extents: &[&[u8]], header: &Header, use_frame: impl FnOnce(&Frame<'_>)) -> Result<()> {
  let len: usize = extents.iter().map(|e| e.len()).sum();
  if len == 0 {
    return Err(Error::corrupt("AVIF image item is empty"));
  }
  let mut obus = try_with_capacity(len, "AVIF image data")?;
  extents.iter().for_each(|e| obus.extend_from_slice(e));
  check_frame_size(&obus, header)?;
  let cfg = aom_codec_dec_cfg_t { threads: 1, w: 0, h: 0, allow_lowbitdepth: 1 };
  // SAFETY: every pointer handed to libaom points to memory this function
  // owns for the duration of the call; the image libaom returns is read only
  // while the decoder that owns it is alive (`dec` outlives `use_frame`).
  unsafe {
    let mut ctx = MaybeUninit::<aom_codec_ctx_t>::zeroed();
    let r = aom_codec_dec_init_ver(ctx.as_mut_ptr(), aom_codec_av1_dx(), &cfg, 0, AOM_DECODER_ABI_VERSION as c_int);
    if r != AOM_CODEC_OK {
      // A failed init has already released what it allocated.
      return Err(Error::internal(format!("AVIF decoder could not start: {}", message(r, None))));
    }
    let mut dec = Decoder(ctx.assume_init());
    let r = aom_codec_decode(&mut dec.0, obus.as_ptr(), obus.len(), std::ptr::null_mut());
    if r != AOM_CODEC_OK {
      return Err(failed(r, Some(&dec)));
    }
    let mut iter = std::ptr::null();
    let img = aom_codec_get_frame(&mut dec.0, &mut iter);
    let Some(img) = img.as_ref() else { return Err(Error::corrupt("AVIF image data holds no complete frame")) };
    let frame = Frame::new(img)?;
    if (frame.width, frame.height) != (header.width as usize, header.height as usize) {
      return Err(Error::corrupt(format!(
        "AVIF frame is {}x{} but its header (ispe) says {}x{}",
        frame.width, frame.height, header.width, header.height
      )));
    }
    use_frame(&frame);
  }
  Ok(())
}

/// libaom's name for `code` and, when the decoder has one, its detail.
fn message(code: aom_codec_err_t, dec: Option<&Decoder>) -> String {
  // SAFETY: libaom returns static strings, or the decoder's own detail string
  // (alive while the decoder is), or null.
  let text = |p: *const std::os::raw::c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
  let name = text(unsafe { aom_codec_err_to_string(code) }).unwrap_or_else(|| format!("error {code}"));
  match dec.and_then(|d| text(unsafe { aom_codec_error_detail(&d.0) })) {
    Some(detail) => format!("{name}: {detail}"),
    None => name,
  }
}

fn failed(code: aom_codec_err_t, dec: Option<&Decoder>) -> Error {
  let text = message(code, dec);
  match code {
    AOM_CODEC_MEM_ERROR => Error::new(Code::LimitExceeded, format!("AVIF decoder could not allocate its buffers ({text})")),
    AOM_CODEC_UNSUP_BITSTREAM | AOM_CODEC_UNSUP_FEATURE => {
      Error::new(Code::UnsupportedFormat, format!("AVIF image uses an AV1 feature the decoder does not support ({text}); convert it first"))
    }
    _ => Error::corrupt(format!("AVIF image data could not be decoded ({text})")),
  }
}

/// A decoded frame as libaom holds it: up to three planes of 8-bit or 16-bit
/// samples (`bits` significant), chroma subsampled by `shift`.
struct Frame<'a> {
  img: &'a aom_image_t,
  width: usize,
  height: usize,
  high: bool,
  bits: u32,
  mono: bool,
  shift: (usize, usize),
  full_range: bool,
}

/// One row of a plane.
enum Row<'a> {
  Low(&'a [u8]),
  High(&'a [u16]),
}

impl Row<'_> {
  fn get(&self, x: usize) -> f32 {
    match self {
      Row::Low(r) => f32::from(r[x]),
      Row::High(r) => f32::from(r[x]),
    }
  }
}

impl<'a> Frame<'a> {
  fn new(img: &'a aom_image_t) -> Result<Self> {
    let (width, height) = (img.d_w as usize, img.d_h as usize);
    let bits = img.bit_depth;
    if width == 0 || height == 0 || !(8..=12).contains(&bits) || img.x_chroma_shift > 1 || img.y_chroma_shift > 1 {
      return Err(Error::corrupt(format!("AVIF frame is {width}x{height} of {bits} bits: not an image the decoder can convert")));
    }
    let mono = img.monochrome != 0;
    let planes = if mono { 1 } else { 3 };
    let high = img.fmt & AOM_IMG_FMT_HIGHBITDEPTH != 0;
    // Each row must hold its plane's width of samples (chroma: rounded up).
    let row_bytes = |p: usize| (if p == 0 { width } else { (width + (1 << img.x_chroma_shift) - 1) >> img.x_chroma_shift }) << usize::from(high);
    if (0..planes).any(|p| img.planes[p].is_null() || usize::try_from(img.stride[p]).map_or(true, |s| s < row_bytes(p))) {
      return Err(Error::corrupt("AVIF frame is missing a plane"));
    }
    Ok(Frame {
      img,
      width,
      height,
      high,
      bits,
      mono,
      shift: (img.x_chroma_shift as usize, img.y_chroma_shift as usize),
      full_range: img.range == AOM_CR_FULL_RANGE,
    })
  }

  /// Row `y` of `plane` (0 luma, 1 Cb, 2 Cr), at that plane's resolution.
  fn row(&self, plane: usize, y: usize) -> Row<'a> {
    let (sx, sy) = if plane == 0 { (0, 0) } else { self.shift };
    let w = (self.width + (1 << sx) - 1) >> sx;
    debug_assert!(y < (self.height + (1 << sy) - 1) >> sy);
    // SAFETY: libaom's planes hold at least d_w x d_h samples (chroma
    // rounded up), `stride` bytes apart (at least a row's worth, checked in
    // new()), of u16 when the format says high bit depth; y is within the plane.
    unsafe {
      let start = self.img.planes[plane].offset(self.img.stride[plane] as isize * y as isize);
      if self.high {
        Row::High(std::slice::from_raw_parts(start.cast::<u16>(), w))
      } else {
        Row::Low(std::slice::from_raw_parts(start, w))
      }
    }
  }

  /// The scale from this frame's luma code values to 0-255, and the offset
  /// of black: `(v - offset) * scale`.
  fn luma_scale(&self) -> (f32, f32) {
    let unit = (1u32 << (self.bits - 8)) as f32;
    if self.full_range {
      (255.0 / ((1u32 << self.bits) - 1) as f32, 0.0)
    } else {
      (255.0 / (219.0 * unit), 16.0 * unit)
    }
  }

  fn luma_to_u8(&self, v: f32) -> u8 {
    let (scale, offset) = self.luma_scale();
    clamp((v - offset) * scale)
  }
}

fn clamp(v: f32) -> u8 {
  v.round().clamp(0.0, 255.0) as u8
}

/// Y'CbCr (or GBR under the identity matrix, or grey) to interleaved
/// RGB(A), chroma taken from the sample covering each pixel.
fn to_rgb(f: &Frame<'_>, out: &mut [u8], channels: usize) {
  let (kr, kb) = match f.img.mc {
    AOM_CICP_MC_BT_709 => (0.2126, 0.0722),
    AOM_CICP_MC_BT_2020_NCL | AOM_CICP_MC_BT_2020_CL => (0.2627, 0.0593),
    // BT.601 (5, 6), unspecified (2) and the rest: what AVIF writers mean by default.
    _ => (0.299, 0.114),
  };
  let kg = 1.0 - kr - kb;
  let (luma, black) = f.luma_scale();
  let unit = (1u32 << (f.bits - 8)) as f32;
  let chroma = if f.full_range { luma } else { 255.0 / (224.0 * unit) };
  let mid = (1u32 << (f.bits - 1)) as f32;
  let identity = f.img.mc == AOM_CICP_MC_IDENTITY;
  for y in 0..f.height {
    let row = &mut out[y * f.width * channels..][..f.width * channels];
    let yr = f.row(0, y);
    if f.mono {
      for (x, px) in row.chunks_exact_mut(channels).enumerate() {
        px[..3].fill(clamp((yr.get(x) - black) * luma));
      }
      continue;
    }
    let (ur, vr) = (f.row(1, y >> f.shift.1), f.row(2, y >> f.shift.1));
    for (x, px) in row.chunks_exact_mut(channels).enumerate() {
      let c = x >> f.shift.0;
      let (yv, u, v) = (yr.get(x), ur.get(c), vr.get(c));
      if identity {
        px[..3].copy_from_slice(&[v, yv, u].map(|s| clamp((s - black) * luma)));
        continue;
      }
      let yv = (yv - black) * luma;
      let (cb, cr) = ((u - mid) * chroma, (v - mid) * chroma);
      let r = yv + 2.0 * (1.0 - kr) * cr;
      let b = yv + 2.0 * (1.0 - kb) * cb;
      let g = (yv - kr * r - kb * b) / kg;
      px[..3].copy_from_slice(&[clamp(r), clamp(g), clamp(b)]);
    }
  }
}

/// Refuses AV1 data whose sequence headers allow frames of more pixels than
/// the container's header declares (what `limitInputPixels` was checked
/// against): AV1 frames may not exceed their sequence header's maximum, and
/// libaom allocates by the frame. Data without a sequence header is left to
/// libaom, which refuses it.
fn check_frame_size(obus: &[u8], header: &Header) -> Result<()> {
  let bad = || Error::corrupt("AVIF image data is not a valid AV1 bitstream (OBU headers)");
  let mut at = 0;
  while at < obus.len() {
    let first = obus[at];
    let kind = (first >> 3) & 15;
    let has_size = first & 2 != 0;
    at += 1 + usize::from(first & 4 != 0);
    let size = if has_size {
      let (size, n) = leb128(obus.get(at..).ok_or_else(bad)?).ok_or_else(bad)?;
      at += n;
      usize::try_from(size).map_err(|_| bad())?
    } else {
      obus.len().saturating_sub(at)
    };
    let body = at.checked_add(size).and_then(|end| obus.get(at..end)).ok_or_else(bad)?;
    at += size;
    if kind == 1 {
      let (w, h) = max_frame_size(body).ok_or_else(|| Error::corrupt("AVIF image data has a truncated AV1 sequence header"))?;
      if w * h > header.pixels() {
        return Err(Error::corrupt(format!(
          "AVIF image data allows frames of {w}x{h}, larger than its header (ispe) says, {}x{}",
          header.width, header.height
        )));
      }
    }
  }
  Ok(())
}

/// A LEB128 value (at most 8 bytes, as AV1 allows) and its length.
fn leb128(d: &[u8]) -> Option<(u64, usize)> {
  let mut v = 0u64;
  for (i, &b) in d.iter().take(8).enumerate() {
    v |= u64::from(b & 0x7F) << (7 * i);
    if b & 0x80 == 0 {
      return Some((v, i + 1));
    }
  }
  None
}

/// Reads big-endian bit fields, as the AV1 spec's f(n).
struct Bits<'a> {
  d: &'a [u8],
  at: usize,
}

impl Bits<'_> {
  fn f(&mut self, n: u32) -> Option<u64> {
    let mut v = 0u64;
    for _ in 0..n {
      let byte = *self.d.get(self.at / 8)?;
      v = v << 1 | u64::from(byte >> (7 - self.at % 8) & 1);
      self.at += 1;
    }
    Some(v)
  }

  /// uvlc(): leading zeros, then that many bits.
  fn uvlc(&mut self) -> Option<u64> {
    let mut zeros = 0;
    while self.f(1)? == 0 {
      zeros += 1;
      if zeros >= 32 {
        return Some(u64::from(u32::MAX));
      }
    }
    Some(self.f(zeros)? + (1u64 << zeros) - 1)
  }
}

/// max_frame_width and max_frame_height from a sequence header OBU's body
/// (AV1 spec 5.5.1, read as far as those two fields).
fn max_frame_size(body: &[u8]) -> Option<(u64, u64)> {
  let mut b = Bits { d: body, at: 0 };
  b.f(3)?; // seq_profile
  b.f(1)?; // still_picture
  if b.f(1)? == 1 {
    b.f(5)?; // reduced_still_picture_header: seq_level_idx[0] only
  } else {
    let mut buffer_delay_bits = 0;
    let mut decoder_model = false;
    if b.f(1)? == 1 {
      // timing_info
      b.f(32)?;
      b.f(32)?;
      if b.f(1)? == 1 {
        b.uvlc()?;
      }
      decoder_model = b.f(1)? == 1;
      if decoder_model {
        buffer_delay_bits = b.f(5)? as u32 + 1;
        b.f(32)?;
        b.f(5)?;
        b.f(5)?;
      }
    }
    let initial_display_delay = b.f(1)? == 1;
    for _ in 0..=b.f(5)? {
      b.f(12)?; // operating_point_idc
      if b.f(5)? > 7 {
        b.f(1)?; // seq_tier
      }
      if decoder_model && b.f(1)? == 1 {
        b.f(buffer_delay_bits)?;
        b.f(buffer_delay_bits)?;
        b.f(1)?;
      }
      if initial_display_delay && b.f(1)? == 1 {
        b.f(4)?;
      }
    }
  }
  let (wbits, hbits) = (b.f(4)? as u32 + 1, b.f(4)? as u32 + 1);
  Some((b.f(wbits)? + 1, b.f(hbits)? + 1))
}

#[cfg(test)]
mod tests {
  use super::super::avif;
  use super::super::encode::{Avif, ChromaSubsampling};
  use super::*;

  fn gradient(w: u32, h: u32, channels: u8) -> Pixels {
    let mut data = Vec::new();
    for y in 0..h {
      for x in 0..w {
        let px = [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) * 127 / (w + h)) as u8, (255 - x * 200 / w) as u8];
        data.extend_from_slice(&px[..usize::from(channels)]);
      }
    }
    Pixels { data, width: w, height: h, channels }
  }

  fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sse: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    10.0 * (255.0 * 255.0 * a.len() as f64 / sse.max(1e-9)).log10()
  }

  fn roundtrip(img: &Pixels, chroma: ChromaSubsampling, lossless: bool) -> Pixels {
    let settings = Avif { quality: 90, chroma_subsampling: chroma, ..Avif::default() };
    let file = avif::encode(img, &settings, lossless).unwrap();
    let header = super::super::header::read(&file).unwrap();
    decode(&file, &header).unwrap()
  }

  #[test]
  fn decodes_what_the_encoder_wrote_444_420_identity_and_alpha() {
    for (chroma, lossless, channels, floor) in
      [(ChromaSubsampling::Yuv444, false, 3, 45.0), (ChromaSubsampling::Yuv420, false, 3, 38.0), (ChromaSubsampling::Yuv444, true, 3, 60.0), (ChromaSubsampling::Yuv444, false, 4, 45.0)]
    {
      let img = gradient(67, 45, channels);
      let out = roundtrip(&img, chroma, lossless);
      assert_eq!((out.width, out.height, out.channels), (67, 45, channels));
      let p = psnr(&img.data, &out.data);
      assert!(p > floor, "{chroma:?} lossless {lossless} channels {channels}: PSNR {p:.1}");
    }
  }

  #[test]
  fn reads_the_maximum_frame_size_of_a_sequence_header() {
    let img = gradient(67, 45, 3);
    let file = avif::encode(&img, &Avif::default(), false).unwrap();
    let coded = isobmff::coded(&file).unwrap();
    let obus: Vec<u8> = coded.colour.concat();
    let mut header = super::super::header::read(&file).unwrap();
    check_frame_size(&obus, &header).unwrap();
    // The same bitstream under a header that claims fewer pixels.
    header.height = 44;
    let e = check_frame_size(&obus, &header).unwrap_err();
    assert_eq!(e.code, Code::CorruptInput);
    assert!(e.message.contains("67x45"), "{}", e.message);
    // Every truncation of the data is a coded error or a shorter valid prefix, never a panic.
    for cut in 0..obus.len() {
      let _ = check_frame_size(&obus[..cut], &header);
    }
  }

  #[test]
  fn a_corrupt_bitstream_is_a_coded_error() {
    let img = gradient(64, 48, 3);
    let file = avif::encode(&img, &Avif::default(), false).unwrap();
    let header = super::super::header::read(&file).unwrap();
    let coded = isobmff::coded(&file).unwrap();
    let (start, len) = {
      let first = coded.colour[0];
      (first.as_ptr() as usize - file.as_ptr() as usize, first.len())
    };
    for keep in [0, 3, len / 4, len / 2, len - 1] {
      let mut cut = file.clone();
      cut[start + keep..start + len].fill(0xA5);
      match decode(&cut, &header) {
        Ok(p) => assert_eq!((p.width, p.height), (64, 48)),
        Err(e) => assert!(matches!(e.code, Code::CorruptInput | Code::UnsupportedFormat), "keep {keep}: {e:?}"),
      }
    }
  }
}
