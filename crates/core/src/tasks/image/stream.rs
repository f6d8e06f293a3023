//! The pipelined resize: a JPEG resized to a JPEG on two pool threads at
//! once, for a call that finds a pool thread idle. Alone, a resize is mostly
//! its JPEG decode (entropy decoding cannot be split), with the resample and
//! the encode after it. Here the calling thread decodes rows in bands into the
//! image's buffer while a second thread resamples every band whose source
//! rows are in (bands.rs) and hands the finished rows to the encoder, so that
//! when the last row is decoded little is left to do. The pixels are those
//! of the one-thread path (`resize_on_one_thread` in mod.rs), which a busy
//! pool keeps: there, a second thread would only take a core from another call.
//!
//! Either side stops the other: a decode that fails or is cancelled ends the
//! rows the resampler waits for, and a resampler that fails (or panics) sets
//! a flag the decoder reads between bands. rayon's `join` waits for both and
//! carries a panic on to the pool's guard; when no thread takes the
//! resampler's half, the calling thread runs it after the decode, on all the
//! rows at once.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::bands::Bands;
use super::colour::ToSrgb;
use super::decode::{jpeg_output_size, JpegRows};
use super::encode::JpegWriter;
use super::header::{self, Header};
use super::limits::{buffer_len, try_with_capacity};
use super::resize::Plan;
use super::{plan_for_size, steps, Format, Prepared, Rendered, ResizeOptions};
use crate::error::{Error, Result};
use crate::pool::Cancel;

/// Source rows the decoder reads between two reports of its progress.
const DECODE_ROWS: u32 = 16;

/// Output rows the horizontal pass takes at least per call; it takes a
/// third of the rows left when that is more. Each call computes all the
/// pass's weights again, so early calls are large, and the last ones
/// small so that little is left once the decode ends.
const HORIZONTAL_ROWS: u32 = 24;

/// Whether a resize of this input with these options can be pipelined: a
/// JPEG (not CMYK) to a JPEG, upright, with nothing but the resize itself
/// (no steps, no `contain` canvas) and a resample that runs both passes.
pub fn applies(header: &Header, opts: &ResizeOptions, prepared: &Prepared) -> bool {
  if header.format != Format::Jpeg || header.channels == 4 || prepared.format != Format::Jpeg || prepared.orientation != 1 {
    return false;
  }
  if opts.steps != steps::Steps::default() || prepared.plan.canvas != prepared.plan.scaled {
    return false;
  }
  let decoded = jpeg_output_size(header.width, header.height, Some(prepared.need));
  Bands::apply(&plan_for_size(prepared.plan, prepared.source, decoded), opts.kernel)
}

/// Decodes, resamples and encodes `data` (for which `applies` held) with
/// the resampler on another pool thread.
pub fn resize(data: &[u8], header: &Header, opts: &ResizeOptions, prepared: &Prepared, cancel: &Cancel) -> Result<Rendered> {
  super::plausible::check(data, header)?;
  let (width, height) = jpeg_output_size(header.width, header.height, Some(prepared.need));
  let plan = plan_for_size(prepared.plan, prepared.source, (width, height));
  // Colours in an embedded profile go to sRGB unless the profile is kept, as
  // on the one-thread path (the resampler makes the transform, off the
  // decoder's path).
  let icc = header::jpeg_icc(data);
  let (convert, kept_icc) = match icc {
    Some(icc) if !opts.keep_icc_profile => (Some(icc), None),
    kept => (None, kept),
  };

  let len = buffer_len(width, height, 3)?;
  let mut buffer = try_with_capacity(len, "decoded image")?;
  let rows = Rows { ptr: buffer.spare_capacity_mut().as_mut_ptr(), row: len / height as usize, width, height };
  let shared = Shared::default();
  let (decoded, encoded) = rayon::join(
    || decode(data, header, prepared.need, &rows, &shared, cancel),
    || resample(&rows, &shared, &plan, (width, height), opts, convert.as_deref(), cancel),
  );
  drop(buffer);
  decoded?;
  let bytes = encoded?;
  Ok(Rendered { bytes, width: plan.scaled.0, height: plan.scaled.1, channels: 3, kept_icc })
}

/// The decoded image's buffer, written a band of rows at a time by the
/// decoder while the resampler reads the rows already written. Each side
/// makes slices of its own rows only, so none covers memory the other writes.
struct Rows {
  ptr: *mut MaybeUninit<u8>,
  /// Bytes per row.
  row: usize,
  width: u32,
  height: u32,
}

// SAFETY: the decoder writes rows the resampler does not read until `Shared`
// (a mutex) says they are written; see `band_mut` and `band`.
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

impl Rows {
  /// SAFETY: rows `first..end` are within the image and not yet reported
  /// decoded, so nothing else reads or writes them.
  unsafe fn band_mut(&self, first: u32, end: u32) -> &mut [MaybeUninit<u8>] {
    std::slice::from_raw_parts_mut(self.ptr.add(first as usize * self.row), (end - first) as usize * self.row)
  }

  /// SAFETY: rows `first..end` were reported decoded (so written, and
  /// written no more), and no other slice of them is alive. The resampler
  /// only reads them (see `Bands::vertical`).
  #[allow(clippy::mut_from_ref)]
  unsafe fn band(&self, first: u32, end: u32) -> &mut [u8] {
    std::slice::from_raw_parts_mut(self.ptr.add(first as usize * self.row).cast::<u8>(), (end - first) as usize * self.row)
  }
}

/// What the two sides tell each other.
#[derive(Default)]
struct Shared {
  progress: Mutex<Progress>,
  moved: Condvar,
  /// The resampler ended early (an error, or a panic): stop decoding.
  stopped: AtomicBool,
}

#[derive(Default)]
struct Progress {
  /// Source rows decoded.
  rows: u32,
  /// The decoder ended (all rows, or an error, or cancelled).
  ended: bool,
  /// Rows the resampler waits for (0: it is not waiting).
  wanted: u32,
}

impl Shared {
  fn progress(&self) -> MutexGuard<'_, Progress> {
    self.progress.lock().unwrap_or_else(|p| p.into_inner())
  }

  fn decoded(&self, rows: u32) {
    let mut p = self.progress();
    p.rows = rows;
    if p.wanted != 0 && rows >= p.wanted {
      p.wanted = 0;
      self.moved.notify_one();
    }
  }

  fn decoded_rows(&self) -> u32 {
    self.progress().rows
  }

  /// Waits for at least `rows` decoded rows; returns how many there are, or
  /// None if the decoder ended short of them.
  fn wait_for(&self, rows: u32) -> Option<u32> {
    let mut p = self.progress();
    loop {
      if p.rows >= rows {
        return Some(p.rows);
      }
      if p.ended {
        return None;
      }
      p.wanted = rows;
      p = self.moved.wait(p).unwrap_or_else(|p| p.into_inner());
    }
  }
}

/// Marks the decoder ended however it leaves (an error, a panic included).
struct Ended<'a>(&'a Shared);

impl Drop for Ended<'_> {
  fn drop(&mut self) {
    self.0.progress().ended = true;
    self.0.moved.notify_all();
  }
}

/// Tells the decoder to stop however the resampler leaves; once the
/// decode is done, it no longer looks.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
  fn drop(&mut self) {
    self.0.stopped.store(true, Ordering::Release);
  }
}

fn decode(data: &[u8], header: &Header, need: (u32, u32), rows: &Rows, shared: &Shared, cancel: &Cancel) -> Result<()> {
  let _ended = Ended(shared);
  let mut reader = JpegRows::start(data, header, Some(need))?;
  if (reader.width, reader.height) != (rows.width, rows.height) || reader.channels != 3 {
    return Err(Error::internal("the JPEG decoder's output differs from the size planned for it"));
  }
  let mut done = 0;
  while done < rows.height {
    if shared.stopped.load(Ordering::Acquire) {
      // The resampler's error is the call's.
      return Ok(());
    }
    cancel.check()?;
    let end = (done + DECODE_ROWS).min(rows.height);
    // SAFETY: rows done..end are in the image and not reported decoded yet.
    reader.read(unsafe { rows.band_mut(done, end) })?;
    done = end;
    shared.decoded(done);
  }
  reader.finish()
}

/// The resampler's half: resamples each band once its source rows are
/// decoded and encodes the finished rows; returns the JPEG's bytes.
/// `icc`: a profile whose colours go to sRGB.
fn resample(rows: &Rows, shared: &Shared, plan: &Plan, decoded: (u32, u32), opts: &ResizeOptions, icc: Option<&[u8]>, cancel: &Cancel) -> Result<Vec<u8>> {
  let _stopped = Stopped(shared);
  let to_srgb = icc.and_then(|icc| ToSrgb::new(icc, 3));
  let mut bands =
    Bands::new(decoded.0, decoded.1, plan, opts.kernel).ok_or_else(|| Error::internal("the pipelined resize was given a plan it cannot band"))?;
  let mut writer = JpegWriter::start(&opts.encode, plan.scaled.0, plan.scaled.1)?;
  let total = bands.rows();
  let mut finished = 0;
  while bands.done() < total {
    cancel.check()?;
    // Wait for the source rows of the next band, then take every band
    // that the rows decoded by then cover.
    let (_, needed) = bands.window(bands.done(), bands.next_end());
    // A task that came while this one holds two threads would wait for one
    // while this thread waits for rows: it runs here meanwhile (this call
    // then ends later; the pool does not lose the time).
    while shared.decoded_rows() < needed && crate::metrics::queued_total() > 0 && rayon::yield_now() == Some(rayon::Yield::Executed) {}
    let available = shared.wait_for(needed).ok_or_else(Error::aborted)?;
    let to = bands.ready(available);
    let (first, end) = bands.window(bands.done(), to);
    // SAFETY: rows first..end are decoded: end <= needed <= available.
    bands.vertical(to, unsafe { rows.band(first, end) })?;
    let left = total - finished;
    if bands.pending() >= HORIZONTAL_ROWS.max(left / 3) || bands.done() == total {
      finished = bands.done();
      let out = bands.horizontal()?;
      if let Some(t) = &to_srgb {
        t.apply(out);
      }
      writer.write(out)?;
    }
  }
  writer.finish()
}

#[cfg(test)]
mod tests {
  use super::super::{header, prepare, resize_on_one_thread, ResizeOptions};
  use super::*;
  use crate::error::Code;
  use crate::tasks::image::resize::{Fit, Kernel};

  fn fixture(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    std::fs::read(dir.join(name)).unwrap()
  }

  fn options(width: u32, height: Option<u32>) -> ResizeOptions {
    ResizeOptions { width: Some(width), height, format: Some(Format::Jpeg), ..ResizeOptions::default() }
  }

  fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
  }

  /// Both paths on `data`: the pipelined one (run inside `pool`) and the one-thread one.
  fn both(pool: &rayon::ThreadPool, data: &[u8], opts: &ResizeOptions, cancel: &Cancel) -> (Result<Rendered>, Result<Rendered>) {
    let h = header::read(data).unwrap();
    let p = prepare(&h, opts).unwrap();
    assert!(applies(&h, opts, &p), "{opts:?} should be pipelined");
    let piped = pool.install(|| resize(data, &h, opts, &p, cancel));
    (piped, resize_on_one_thread(data, &h, opts, &p, cancel))
  }

  #[test]
  fn the_pipeline_writes_the_one_thread_paths_bytes() {
    let big = fixture("2569067123_aca715a2ee_o.jpg");
    let icc = fixture("Landscape_2.jpg");
    let no_orient = |o: ResizeOptions| ResizeOptions { auto_orient: false, ..o };
    let cases = [
      (&big, options(720, Some(588))),
      (&big, ResizeOptions { kernel: Kernel::Mitchell, fit: Fit::Fill, ..options(333, Some(500)) }),
      (&big, ResizeOptions { position: (0.0, 1.0), ..options(200, Some(600)) }),
      // An embedded profile, converted to sRGB, then kept.
      (&icc, no_orient(options(280, None))),
      (&icc, ResizeOptions { keep_icc_profile: true, ..no_orient(options(280, None)) }),
    ];
    // Two threads (the resampler on the other), and one (it runs after the decode).
    for threads in [2, 1] {
      let pool = pool(threads);
      for (data, opts) in &cases {
        let (piped, one) = both(&pool, data, opts, &Cancel::never());
        let (piped, one) = (piped.unwrap(), one.unwrap());
        assert!(piped.bytes == one.bytes, "{threads} threads, {opts:?}: {} bytes vs {}", piped.bytes.len(), one.bytes.len());
        assert_eq!((piped.width, piped.height, piped.channels, &piped.kept_icc), (one.width, one.height, one.channels, &one.kept_icc));
      }
    }
  }

  #[test]
  fn a_corrupt_or_cancelled_decode_ends_both_halves() {
    let pool = pool(2);
    // The first 300 KB of a JPEG: the rows stop a third of the way down.
    let big = fixture("2569067123_aca715a2ee_o.jpg");
    let opts = options(720, Some(588));
    let (piped, one) = both(&pool, &big[..300_000], &opts, &Cancel::never());
    let (piped, one) = (piped.unwrap_err(), one.unwrap_err());
    assert_eq!((piped.code, &piped.message), (one.code, &one.message));
    assert_eq!(piped.code, Code::CorruptInput);
    let cancel = Cancel::new();
    cancel.cancel();
    let (piped, _) = both(&pool, &big, &opts, &cancel);
    assert_eq!(piped.unwrap_err().code, Code::Aborted);
  }

  #[test]
  fn only_plain_jpeg_to_jpeg_resizes_are_pipelined() {
    let big = fixture("2569067123_aca715a2ee_o.jpg");
    let h = header::read(&big).unwrap();
    let check = |opts: ResizeOptions| applies(&h, &opts, &prepare(&h, &opts).unwrap());
    assert!(check(options(720, Some(588))));
    assert!(!check(ResizeOptions { format: Some(Format::Png), ..options(720, Some(588)) }));
    assert!(!check(ResizeOptions { fit: Fit::Contain, ..options(720, Some(300)) }));
    assert!(!check(ResizeOptions { kernel: Kernel::Nearest, ..options(720, Some(588)) }));
    let mut flipped = options(720, Some(588));
    flipped.steps.flip = true;
    assert!(!check(flipped));
    // A sideways JPEG needs turning after the decode.
    let turned = fixture("Landscape_6.jpg");
    let h6 = header::read(&turned).unwrap();
    let opts = options(300, None);
    assert!(!applies(&h6, &opts, &prepare(&h6, &opts).unwrap()));
  }
}
