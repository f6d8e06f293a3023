//! AVIF input: the primary item's AV1 frame (and its alpha plane) decoded by
//! rav1d, the Rust port of dav1d, which builds from crates.io sources alone
//! (its x86 assembly through nasm, as the JPEG codec's). rav1d's interface is
//! dav1d's C API, as `unsafe extern "C"` Rust functions: this file is the one
//! place that calls it, on one thread (n_threads 1: the pool is ours), with a
//! frame size limit from the header so a bitstream cannot claim more pixels
//! than the size `limitInputPixels` was checked against.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dSettings};
use rav1d::include::dav1d::headers::{
  DAV1D_MC_BT2020_CL, DAV1D_MC_BT2020_NCL, DAV1D_MC_BT601, DAV1D_MC_BT709, DAV1D_MC_IDENTITY, DAV1D_PIXEL_LAYOUT_I400, DAV1D_PIXEL_LAYOUT_I420,
  DAV1D_PIXEL_LAYOUT_I422,
};
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib::{
  dav1d_close, dav1d_data_create, dav1d_data_unref, dav1d_default_settings, dav1d_get_picture, dav1d_open, dav1d_picture_unref, dav1d_send_data,
};

use super::decode::Pixels;
use super::header::Header;
use super::isobmff;
use super::limits::{buffer_len, try_zeroed};
use crate::error::{Error, Result};

/// dav1d's EAGAIN: feed more data, or fetch a picture first.
const EAGAIN: i32 = -(libc::EAGAIN);
/// rav1d's answer to a bit depth it was built without.
const ENOPROTOOPT: i32 = -(libc::ENOPROTOOPT);

/// One decoded plane set: 8-bit samples, tightly packed.
struct Frame {
  width: usize,
  height: usize,
  /// Y, then Cb and Cr (absent for monochrome) at their own resolution.
  planes: Vec<Vec<u8>>,
  /// Chroma subsampling shifts (x, y).
  shift: (usize, usize),
  matrix: u32,
  full_range: bool,
}

pub fn decode(data: &[u8], header: &Header) -> Result<Pixels> {
  let coded = isobmff::coded(data)?;
  let pixels = header.pixels();
  let colour = decode_frame(&coded.colour, pixels)?;
  let alpha = coded.alpha.as_ref().map(|a| decode_frame(a, pixels)).transpose()?;
  let (w, h) = (colour.width, colour.height);
  if (w as u64, h as u64) != (u64::from(header.width), u64::from(header.height)) {
    return Err(Error::corrupt(format!("AVIF frame is {w}x{h} but its header (ispe) says {}x{}", header.width, header.height)));
  }
  if let Some(a) = &alpha {
    if (a.width, a.height) != (w, h) {
      return Err(Error::corrupt(format!("AVIF alpha plane is {}x{}, its image {w}x{h}", a.width, a.height)));
    }
  }
  let channels: u8 = if alpha.is_some() { 4 } else { 3 };
  let mut out = try_zeroed(buffer_len(header.width, header.height, channels)?, "AVIF decode buffer")?;
  to_rgb(&colour, &mut out, usize::from(channels));
  if let Some(a) = &alpha {
    let scale = |v: u8| if a.full_range { v } else { (((i32::from(v) - 16) * 255 + 109) / 219).clamp(0, 255) as u8 };
    for (px, &v) in out.chunks_exact_mut(4).zip(&a.planes[0]) {
      px[3] = scale(v);
    }
  }
  Ok(Pixels { data: out, width: header.width, height: header.height, channels })
}

/// Owns a dav1d context and closes it however decoding ends.
struct Context(Option<Dav1dContext>);

impl Drop for Context {
  fn drop(&mut self) {
    // SAFETY: the context came from dav1d_open and is closed once, here.
    unsafe { dav1d_close(NonNull::new(&mut self.0)) };
  }
}

/// Owns a picture dav1d handed out.
struct Picture(Dav1dPicture);

impl Drop for Picture {
  fn drop(&mut self) {
    // SAFETY: the picture was filled by dav1d_get_picture and is released once.
    unsafe {
      dav1d_picture_unref(NonNull::new(&mut self.0));
      release_empty(&mut self.0);
    }
  }
}

/// rav1d writes an empty picture where dav1d writes zeroes (after
/// dav1d_picture_unref, and from dav1d_get_picture when it has none), and
/// an empty picture owns one allocation, its ITU-T T.35 list, which nothing
/// else frees (48 bytes a decode, found by the resize_avif fuzz target's
/// leak check).
///
/// # Safety
/// `p` was written by dav1d_picture_unref or a failed dav1d_get_picture.
unsafe fn release_empty(p: &mut Dav1dPicture) {
  if let Some(list) = p.itut_t35_ref.take() {
    drop(list.into_arc());
  }
}

fn decode_frame(extents: &[&[u8]], max_pixels: u64) -> Result<Frame> {
  let failed = |what: &str, code: i32| {
    if code == ENOPROTOOPT {
      // A bit depth rav1d was built without (Cargo.toml asks for all of them).
      Error::new(crate::error::Code::UnsupportedFormat, "AVIF of 10 or 12 bits per sample is not supported (8-bit only); convert it first")
    } else {
      Error::corrupt(format!("AVIF image data could not be decoded ({what}, dav1d error {code})"))
    }
  };
  let len: usize = extents.iter().map(|e| e.len()).sum();
  if len == 0 {
    return Err(Error::corrupt("AVIF image item is empty"));
  }
  // SAFETY: each call gets valid pointers to memory this function owns;
  // dav1d writes the settings, data, context and picture structs it is given.
  unsafe {
    let mut settings = MaybeUninit::<Dav1dSettings>::uninit();
    dav1d_default_settings(NonNull::new_unchecked(settings.as_mut_ptr()));
    let mut settings = settings.assume_init();
    settings.n_threads = 1;
    settings.max_frame_delay = 1;
    settings.frame_size_limit = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    // No logger: rav1d's default prints to stderr. (A zeroed logger is
    // "no callback"; its type is not nameable from outside rav1d.)
    settings.logger = std::mem::zeroed();
    let mut ctx = Context(None);
    let r = dav1d_open(NonNull::new(&mut ctx.0), NonNull::new(&mut settings)).0;
    let Some(c) = ctx.0 else { return Err(Error::internal(format!("AVIF decoder could not start (dav1d error {r})"))) };

    let mut data = MaybeUninit::<Dav1dData>::uninit();
    let ptr = dav1d_data_create(NonNull::new(data.as_mut_ptr()), len);
    if ptr.is_null() {
      return Err(super::limits::try_with_capacity(len, "AVIF data").err().unwrap_or_else(|| Error::internal("AVIF decoder refused its input buffer")));
    }
    let mut data = data.assume_init();
    let mut at = 0;
    for e in extents {
      std::ptr::copy_nonoverlapping(e.as_ptr(), ptr.add(at), e.len());
      at += e.len();
    }
    let mut picture: Option<Picture> = None;
    let fetch = |picture: &mut Option<Picture>| -> Result<bool> {
      let mut p = MaybeUninit::<Dav1dPicture>::zeroed();
      let r = dav1d_get_picture(Some(c), NonNull::new(p.as_mut_ptr())).0;
      match r {
        0 => {
          *picture = Some(Picture(p.assume_init()));
          Ok(true)
        }
        code => {
          release_empty(p.assume_init_mut());
          if code == EAGAIN {
            Ok(false)
          } else {
            Err(failed("picture", code))
          }
        }
      }
    };
    let mut guard = 0u32;
    while data.sz > 0 {
      let r = dav1d_send_data(Some(c), NonNull::new(&mut data)).0;
      if r != 0 && r != EAGAIN {
        dav1d_data_unref(NonNull::new(&mut data));
        return Err(failed("bitstream", r));
      }
      if picture.is_none() && fetch(&mut picture).inspect_err(|_| dav1d_data_unref(NonNull::new(&mut data)))? {
        break;
      }
      guard += 1;
      if guard > 10_000 {
        dav1d_data_unref(NonNull::new(&mut data));
        return Err(Error::corrupt("AVIF image data never yields a picture"));
      }
    }
    dav1d_data_unref(NonNull::new(&mut data));
    // Drain: a still image's one frame may come out only now.
    for _ in 0..4 {
      if picture.is_some() || fetch(&mut picture)? {
        break;
      }
    }
    let picture = picture.ok_or_else(|| Error::corrupt("AVIF image data holds no complete frame"))?;
    frame(&picture.0)
  }
}

/// Copies a picture's planes out as 8-bit samples.
unsafe fn frame(p: &Dav1dPicture) -> Result<Frame> {
  let (w, h) = (usize::try_from(p.p.w).unwrap_or(0), usize::try_from(p.p.h).unwrap_or(0));
  if w == 0 || h == 0 {
    return Err(Error::corrupt("AVIF frame has a zero dimension"));
  }
  let bpc = p.p.bpc;
  let layout = p.p.layout;
  let shift = match layout {
    DAV1D_PIXEL_LAYOUT_I420 => (1, 1),
    DAV1D_PIXEL_LAYOUT_I422 => (1, 0),
    _ => (0, 0),
  };
  let (matrix, full_range) = match p.seq_hdr {
    // SAFETY: a picture's sequence header lives as long as the picture.
    Some(s) => (s.as_ref().mtrx, s.as_ref().color_range != 0),
    None => (DAV1D_MC_BT601, true),
  };
  let high = bpc > 8;
  let down = (bpc - 8).max(0) as u32;
  let mut planes = Vec::new();
  let count = if layout == DAV1D_PIXEL_LAYOUT_I400 { 1 } else { 3 };
  for i in 0..count {
    let (pw, ph) = if i == 0 { (w, h) } else { ((w + (1 << shift.0) - 1) >> shift.0, (h + (1 << shift.1) - 1) >> shift.1) };
    let stride = p.stride[usize::from(i > 0)];
    let base = p.data[i].ok_or_else(|| Error::corrupt("AVIF frame is missing a plane"))?.as_ptr().cast::<u8>();
    let mut plane = Vec::with_capacity(pw * ph);
    for y in 0..ph {
      let row = base.offset(stride * y as isize);
      if high {
        let row = std::slice::from_raw_parts(row.cast::<u16>(), pw);
        plane.extend(row.iter().map(|&v| ((u32::from(v) + (1 << down >> 1)) >> down).min(255) as u8));
      } else {
        plane.extend_from_slice(std::slice::from_raw_parts(row, pw));
      }
    }
    planes.push(plane);
  }
  Ok(Frame { width: w, height: h, planes, shift, matrix, full_range })
}

/// Y'CbCr (or RGB under the identity matrix, or grey) to interleaved RGB(A),
/// chroma taken from the sample covering each pixel.
fn to_rgb(f: &Frame, out: &mut [u8], channels: usize) {
  let (kr, kb) = match f.matrix {
    DAV1D_MC_BT709 => (0.2126, 0.0722),
    DAV1D_MC_BT2020_NCL | DAV1D_MC_BT2020_CL => (0.2627, 0.0593),
    // BT.601 (5, 6), unspecified (2) and the rest: what AVIF writers mean by default.
    _ => (0.299, 0.114),
  };
  let kg = 1.0 - kr - kb;
  let cw = (f.width + (1 << f.shift.0) - 1) >> f.shift.0;
  let (luma, chroma) = if f.full_range { (1.0, 1.0) } else { (255.0 / 219.0, 255.0 / 224.0) };
  let y_off = if f.full_range { 0.0 } else { 16.0 };
  let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
  for y in 0..f.height {
    for x in 0..f.width {
      let px = &mut out[(y * f.width + x) * channels..][..3];
      let yv = (f32::from(f.planes[0][y * f.width + x]) - y_off) * luma;
      if f.planes.len() == 1 {
        px.fill(clamp(yv));
        continue;
      }
      let c = (y >> f.shift.1) * cw + (x >> f.shift.0);
      let (u, v) = (f.planes[1][c], f.planes[2][c]);
      if f.matrix == DAV1D_MC_IDENTITY {
        px.copy_from_slice(&[v, f.planes[0][y * f.width + x], u]);
        continue;
      }
      let (cb, cr) = ((f32::from(u) - 128.0) * chroma, (f32::from(v) - 128.0) * chroma);
      let r = yv + 2.0 * (1.0 - kr) * cr;
      let b = yv + 2.0 * (1.0 - kb) * cb;
      let g = (yv - kr * r - kb * b) / kg;
      px.copy_from_slice(&[clamp(r), clamp(g), clamp(b)]);
    }
  }
}
