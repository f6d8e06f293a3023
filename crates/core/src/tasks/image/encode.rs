//! Encoding to JPEG (libjpeg-turbo via mozjpeg), PNG (the `png` crate),
//! WebP (libwebp), AVIF (rav1e, avif.rs) and GIF (gif_encode.rs), with the encoder settings of one `Encode` value: sharp's
//! per-format output options, each read only by the format it concerns.

use mozjpeg::qtable;

use super::decode::Pixels;
use super::limits::{check_sides, try_with_capacity};
use super::palette;
use super::Format;
use crate::error::{Error, Result};
use crate::pool::{panic_message, Cancel};

/// JPEG chroma subsampling (sharp's `chromaSubsampling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChromaSubsampling {
  /// Colour at half resolution on each axis: sharp's and libjpeg's default.
  Yuv420,
  /// Colour at full resolution: sharper colour edges, larger files.
  Yuv444,
}

/// PNG palette output: an 8-bit indexed PNG of at most `colours` entries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Palette {
  /// 2 to 256.
  pub colours: u16,
  /// Floyd-Steinberg error diffusion, 0 (none) to 1 (full).
  pub dither: f32,
}

/// Animated output's frame delays in milliseconds (sharp's `delay`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delay {
  /// The same delay for every frame.
  All(u32),
  /// One delay per frame, in order.
  Each(Vec<u32>),
}

/// AVIF's settings. sharp takes them from the same options as the other
/// formats (`quality`, `chromaSubsampling`, `effort`) but with AVIF's own
/// defaults (50, '4:4:4', 4) and effort range (0-9), so they are resolved
/// apart from the fields JPEG and WebP read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Avif {
  /// 1 to 100.
  pub quality: u8,
  pub chroma_subsampling: ChromaSubsampling,
  /// 0 (fastest) to 9 (smallest).
  pub effort: u8,
}

impl Default for Avif {
  fn default() -> Self {
    Avif { quality: super::avif::DEFAULT_QUALITY, chroma_subsampling: ChromaSubsampling::Yuv444, effort: super::avif::DEFAULT_EFFORT }
  }
}

/// The encoder's settings. Each field concerns one format (or two, as
/// `quality` does) and the others ignore it, as sharp's options do.
#[derive(Debug, Clone, PartialEq)]
pub struct Encode {
  /// JPEG and lossy WebP, 1 to 100; WebP lossless: compression effort.
  pub quality: u8,
  /// JPEG: progressive (multi-scan) rather than baseline.
  pub progressive: bool,
  /// JPEG.
  pub chroma_subsampling: ChromaSubsampling,
  /// JPEG: mozjpeg's trellis quantisation (smaller files, slower).
  pub trellis_quantisation: bool,
  /// JPEG: optimised Huffman tables.
  pub optimise_coding: bool,
  /// PNG: zlib level, 0 (stored) to 9.
  pub compression_level: u8,
  /// PNG: choose a filter per row (otherwise none).
  pub adaptive_filtering: bool,
  /// PNG: indexed colour.
  pub palette: Option<Palette>,
  /// WebP: lossless. AVIF: rav1e's finest quantiser on RGB (see avif.rs).
  pub lossless: bool,
  /// WebP: lossless after near-lossless preprocessing (level from `quality`).
  pub near_lossless: bool,
  /// WebP: libwebp's `method`, 0 (fastest) to 6 (smallest). The option
  /// takes 0 to 9 (AVIF's range); `check_for` refuses 7-9 for WebP.
  pub effort: u8,
  /// WebP: quality of the alpha plane, 0 to 100.
  pub alpha_quality: u8,
  /// AVIF: quality, chroma subsampling and effort.
  pub avif: Avif,
  /// GIF: the palette of each frame (`colours`, `dither`; sharp's defaults
  /// 256 and 1 apply whether or not `palette` asks PNG for one).
  pub gif: Palette,
  /// Animated GIF and WebP: times to play (0: forever); None keeps the input's.
  pub loop_count: Option<u32>,
  /// Animated GIF and WebP: frame delays; None keeps the input's.
  pub delay: Option<Delay>,
}

impl Default for Encode {
  /// sharp's defaults, except `adaptive_filtering` (see docs/api.md) and
  /// `optimise_coding` (true, as sharp's is).
  fn default() -> Self {
    Encode {
      quality: 80,
      progressive: false,
      chroma_subsampling: ChromaSubsampling::Yuv420,
      trellis_quantisation: false,
      optimise_coding: true,
      compression_level: 6,
      adaptive_filtering: true,
      palette: None,
      lossless: false,
      near_lossless: false,
      effort: 4,
      alpha_quality: 100,
      avif: Avif::default(),
      gif: Palette { colours: 256, dither: 1.0 },
      loop_count: None,
      delay: None,
    }
  }
}

impl Encode {
  /// The ranges the spec enforces, checked again for callers that build an
  /// `Encode` by hand (the fuzzer, other crates).
  pub fn check(&self) -> Result<()> {
    let bad = |name: &str, range: &str, v: f64| Err(Error::invalid(format!("{name} must be an integer from {range}, got {v}")));
    if !(1..=100).contains(&self.quality) {
      return bad("quality", "1 to 100", f64::from(self.quality));
    }
    if self.compression_level > 9 {
      return bad("compressionLevel", "0 to 9", f64::from(self.compression_level));
    }
    if self.effort > super::avif::MAX_EFFORT {
      return bad("effort", "0 to 9", f64::from(self.effort));
    }
    if !(1..=100).contains(&self.avif.quality) {
      return bad("quality", "1 to 100", f64::from(self.avif.quality));
    }
    if self.avif.effort > super::avif::MAX_EFFORT {
      return bad("effort", "0 to 9", f64::from(self.avif.effort));
    }
    if self.alpha_quality > 100 {
      return bad("alphaQuality", "0 to 100", f64::from(self.alpha_quality));
    }
    for p in self.palette.iter().chain([&self.gif]) {
      if !(2..=256).contains(&p.colours) {
        return bad("colours", "2 to 256", f64::from(p.colours));
      }
      if !(0.0..=1.0).contains(&p.dither) {
        return Err(Error::invalid(format!("dither must be a number from 0 to 1, got {}", p.dither)));
      }
    }
    Ok(())
  }
}

impl Encode {
  /// The ranges that depend on the output format: `effort` is 0-6 for
  /// WebP, 0-9 for AVIF (sharp's ranges). Checked before decoding, once the
  /// output format is known.
  pub fn check_for(&self, format: Format) -> Result<()> {
    self.check()?;
    if format == Format::Webp && self.effort > 6 {
      return Err(Error::invalid(format!("effort must be an integer from 0 to 6 for WebP output (0 to 9 is AVIF's range), got {}", self.effort)));
    }
    Ok(())
  }
}

/// `cancel` is checked where encoding can take long (palette quantisation).
pub fn encode(img: &Pixels, format: Format, settings: &Encode, cancel: &Cancel) -> Result<Vec<u8>> {
  settings.check_for(format)?;
  // resize() checked the plan against these before decoding; checked again
  // here so that no caller can hand an encoder a size it cannot write.
  check_sides(format, img.width, img.height)?;
  match format {
    Format::Jpeg => encode_jpeg(img, settings),
    Format::Png => encode_png(img, settings, cancel),
    Format::Gif => super::gif_encode::still(img, settings.gif, cancel),
    Format::Webp => encode_webp(img, settings),
    Format::Avif => super::avif::encode(img, &settings.avif, settings.lossless),
  }
}

fn encode_jpeg(img: &Pixels, e: &Encode) -> Result<Vec<u8>> {
  if img.channels != 3 {
    return Err(Error::internal("JPEG encoder expects RGB pixels"));
  }
  let mut writer = JpegWriter::start(e, img.width, img.height)?;
  writer.write(&img.data)?;
  writer.finish()
}

/// A JPEG encode of RGB rows handed over a band at a time: all at once by
/// `encode`, in bands by the pipelined resize (stream.rs) as its rows are
/// resampled.
pub struct JpegWriter {
  started: mozjpeg::compress::CompressStarted<Vec<u8>>,
}

/// Runs one libjpeg call, whose errors unwind out of it, as ERR_INTERNAL.
fn jpeg_call<T>(f: impl FnOnce() -> std::io::Result<T>) -> Result<T> {
  match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
    Ok(Ok(v)) => Ok(v),
    Ok(Err(e)) => Err(Error::internal(format!("JPEG encoding failed: {e}"))),
    Err(payload) => Err(Error::internal(format!("JPEG encoding failed: {}", panic_message(&payload)))),
  }
}

impl JpegWriter {
  /// Starts an encode of a `width`x`height` RGB image with `e`'s settings.
  pub fn start(e: &Encode, width: u32, height: u32) -> Result<Self> {
    Self::start_from(mozjpeg::ColorSpace::JCS_RGB, e, width, height)
  }

  /// `start` for rows already in YCbCr (JFIF's full-range BT.601), which the
  /// encoder takes as they are, with no colour conversion: for the stage
  /// breakdown (stages.rs), which times what that conversion costs.
  pub(super) fn start_ycbcr(e: &Encode, width: u32, height: u32) -> Result<Self> {
    Self::start_from(mozjpeg::ColorSpace::JCS_YCbCr, e, width, height)
  }

  fn start_from(input: mozjpeg::ColorSpace, e: &Encode, width: u32, height: u32) -> Result<Self> {
    e.check_for(Format::Jpeg)?;
    check_sides(Format::Jpeg, width, height)?;
    let raw = super::limits::buffer_len(width, height, 3)?;
    let buffer = try_with_capacity((raw / 8).max(4096), "JPEG output buffer")?;
    let started = jpeg_call(|| {
      // new() applies mozjpeg's own defaults (its max-compression profile),
      // which include trellis quantisation; the crate has no switch for trellis
      // alone.
      let mut c = mozjpeg::Compress::new(input);
      if e.trellis_quantisation {
        // Keep trellis (and the profile's overshoot deringing), but write
        // sequential scans unless progressive is asked for.
        c.set_optimize_scans(false);
      } else {
        // libjpeg-turbo's classic settings (baseline, 4:2:0, standard tables):
        // sharp's default output.
        c.set_fastest_defaults();
      }
      c.set_size(width as usize, height as usize);
      c.set_quality(f32::from(e.quality));
      if e.trellis_quantisation {
        // The standard (Annex K) tables at this quality, as the fast path
        // uses, not mozjpeg's tuned ones: trellis changes the coding only.
        let q = f32::from(e.quality);
        c.set_luma_qtable(&qtable::AnnexK_Luma.scaled(q, q));
        c.set_chroma_qtable(&qtable::AnnexK_Chroma.scaled(q, q));
      }
      if e.chroma_subsampling == ChromaSubsampling::Yuv444 {
        c.set_chroma_sampling_pixel_sizes((1, 1), (1, 1));
      }
      c.set_optimize_coding(e.optimise_coding);
      if e.progressive {
        c.set_progressive_mode();
      }
      c.start_compress(buffer)
    })?;
    Ok(JpegWriter { started })
  }

  /// Compresses the next rows (a whole number of rows, in order, of the
  /// colour space the encode started with).
  pub fn write(&mut self, rows: &[u8]) -> Result<()> {
    jpeg_call(|| self.started.write_scanlines(rows))
  }

  /// Ends the encode once every row was written; returns the file's bytes.
  pub fn finish(self) -> Result<Vec<u8>> {
    let started = self.started;
    jpeg_call(|| started.finish())
  }
}

fn encode_png(img: &Pixels, e: &Encode, cancel: &Cancel) -> Result<Vec<u8>> {
  let failed = |err: png::EncodingError| Error::internal(format!("PNG encoding failed: {err}"));
  let indexed = e.palette.map(|p| palette::quantise(img, p, cancel)).transpose()?;
  let mut out = try_with_capacity(img.data.len() / 2, "PNG output buffer")?;
  {
    let mut encoder = png::Encoder::new(&mut out, img.width, img.height);
    encoder.set_depth(png::BitDepth::Eight);
    match &indexed {
      Some(q) => {
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_palette(q.rgb.as_slice());
        if let Some(alpha) = &q.alpha {
          encoder.set_trns(alpha.as_slice());
        }
      }
      None => encoder.set_color(if img.channels == 4 { png::ColorType::Rgba } else { png::ColorType::Rgb }),
    }
    // Level 6 is what the encoder's "balanced" setting means, and was
    // rusque's only PNG output before this option.
    match e.compression_level {
      0 => encoder.set_compression(png::Compression::NoCompression),
      n => encoder.set_deflate_compression(png::DeflateCompression::Level(n)),
    }
    encoder.set_filter(if e.adaptive_filtering { png::Filter::Adaptive } else { png::Filter::NoFilter });
    let mut writer = encoder.write_header().map_err(failed)?;
    let data = indexed.as_ref().map_or(img.data.as_slice(), |q| q.indices.as_slice());
    writer.write_image_data(data).map_err(failed)?;
    writer.finish().map_err(failed)?;
  }
  Ok(out)
}

/// libwebp's settings for `e`: the still and the animated encoder's.
pub(super) fn webp_config(e: &Encode) -> Result<webp::WebPConfig> {
  let mut config = webp::WebPConfig::new().map_err(|()| Error::internal("WebP encoder configuration failed"))?;
  let lossless = e.lossless || e.near_lossless;
  config.lossless = i32::from(lossless);
  // As libwebp's simple API: the alpha plane is compressed (lossily, at
  // alpha_quality) only in lossy mode.
  config.alpha_compression = i32::from(!lossless);
  config.quality = f32::from(e.quality);
  config.method = i32::from(e.effort);
  config.alpha_quality = i32::from(e.alpha_quality);
  if e.near_lossless {
    // libwebp: 100 is off, 0 the strongest preprocessing; sharp (libvips)
    // passes the quality.
    config.near_lossless = i32::from(e.quality);
  }
  Ok(config)
}

fn encode_webp(img: &Pixels, e: &Encode) -> Result<Vec<u8>> {
  let encoder = if img.channels == 4 {
    webp::Encoder::from_rgba(&img.data, img.width, img.height)
  } else {
    webp::Encoder::from_rgb(&img.data, img.width, img.height)
  };
  let config = webp_config(e)?;
  let memory = encoder.encode_advanced(&config).map_err(|e| Error::internal(format!("WebP encoding failed: {e:?}")))?;
  let mut out = try_with_capacity(memory.len(), "WebP output buffer")?;
  out.extend_from_slice(&memory);
  Ok(out)
}
