//! Colour quantisation for palette PNG output (sharp's `palette`, `colours`,
//! `dither`): NeuQuant (the MIT-licensed `color_quant` crate, already in the
//! `image` crate's tree) picks the palette; Floyd-Steinberg error diffusion,
//! scaled by `dither`, maps the pixels onto it.

use color_quant::NeuQuant;

use super::decode::Pixels;
use super::encode::Palette;
use super::limits::try_with_capacity;
use crate::error::{Error, Result};
use crate::pool::{panic_message, Cancel};

/// NeuQuant's sampling factor: 1 samples every pixel, 30 the fewest; 10 is
/// its authors' balance of speed and quality.
const SAMPLE_FACTOR: i32 = 10;

/// Rows mapped between cancellation checks.
const CANCEL_ROWS: usize = 64;

/// An image mapped onto a palette of at most `Palette::colours` entries.
pub struct Indexed {
  /// One palette index per pixel, row by row.
  pub indices: Vec<u8>,
  /// RGB of each entry (PNG's PLTE).
  pub rgb: Vec<u8>,
  /// Alpha of each entry up to the last translucent one (PNG's tRNS), or
  /// None if every entry is opaque.
  pub alpha: Option<Vec<u8>>,
}

/// Checks `cancel` after training and every few rows while mapping.
pub fn quantise(img: &Pixels, p: Palette, cancel: &Cancel) -> Result<Indexed> {
  if !(3..=4).contains(&img.channels) {
    return Err(Error::internal("palette quantisation expects RGB or RGBA pixels"));
  }
  let rgba = if img.channels == 4 {
    std::borrow::Cow::Borrowed(&img.data[..])
  } else {
    let mut v = try_with_capacity(img.data.len() / 3 * 4, "palette working buffer")?;
    for px in img.data.chunks_exact(3) {
      v.extend_from_slice(&[px[0], px[1], px[2], 255]);
    }
    std::borrow::Cow::Owned(v)
  };
  let colours = usize::from(p.colours).clamp(2, 256);
  if let Some(exact) = exact(&rgba, colours) {
    return Ok(exact);
  }
  let mut indexed = std::panic::catch_unwind(|| map(&rgba, img.width as usize, colours, p.dither, cancel))
    .map_err(|payload| Error::internal(format!("palette quantisation failed: {}", panic_message(&payload))))??;
  // NeuQuant seeds some entries translucent and may leave those it never
  // trains so; an opaque image must not get a tRNS chunk from them.
  if rgba.chunks_exact(4).all(|px| px[3] == 255) {
    indexed.alpha = None;
  }
  Ok(indexed)
}

/// The image's own colours when it has no more than `colours` of them
/// (a flat graphic, a sticker): every pixel kept exactly, nothing to dither.
/// NeuQuant learns from a sample and can miss a colour a few pixels wear.
fn exact(rgba: &[u8], colours: usize) -> Option<Indexed> {
  let mut seen: std::collections::HashMap<[u8; 4], u8> = std::collections::HashMap::with_capacity(colours);
  let mut indices = Vec::new();
  indices.try_reserve_exact(rgba.len() / 4).ok()?;
  for px in rgba.chunks_exact(4) {
    let key = [px[0], px[1], px[2], px[3]];
    let next = seen.len();
    let i = *seen.entry(key).or_insert(next as u8);
    if seen.len() > colours {
      return None;
    }
    indices.push(i);
  }
  let mut map = vec![[0u8; 4]; seen.len()];
  for (c, i) in seen {
    map[usize::from(i)] = c;
  }
  let rgb = map.iter().flat_map(|c| [c[0], c[1], c[2]]).collect();
  let alpha = map.iter().rposition(|c| c[3] < 255).map(|last| map[..=last].iter().map(|c| c[3]).collect());
  Some(Indexed { indices, rgb, alpha })
}

fn map(rgba: &[u8], width: usize, colours: usize, dither: f32, cancel: &Cancel) -> Result<Indexed> {
  let nq = NeuQuant::new(SAMPLE_FACTOR, colours, rgba);
  cancel.check()?;
  let map = nq.color_map_rgba();
  let mut indices = try_with_capacity(rgba.len() / 4, "palette indices")?;
  if dither <= 0.0 {
    for rows in rgba.chunks(width * 4 * CANCEL_ROWS) {
      cancel.check()?;
      indices.extend(rows.chunks_exact(4).map(|px| nq.index_of(px) as u8));
    }
  } else {
    // Error carried to this row and the next, per channel, with a pixel of
    // margin on each side so the kernel needs no edge cases.
    let mut here = vec![0f32; (width + 2) * 4];
    let mut next = vec![0f32; (width + 2) * 4];
    for (y, row) in rgba.chunks_exact(width * 4).enumerate() {
      if y % CANCEL_ROWS == 0 {
        cancel.check()?;
      }
      for (x, px) in row.chunks_exact(4).enumerate() {
        let mut want = [0u8; 4];
        let mut wantf = [0f32; 4];
        for c in 0..4 {
          wantf[c] = (f32::from(px[c]) + here[(x + 1) * 4 + c]).clamp(0.0, 255.0);
          want[c] = wantf[c].round() as u8;
        }
        let i = nq.index_of(&want);
        indices.push(i as u8);
        for c in 0..4 {
          let err = (wantf[c] - f32::from(map[i * 4 + c])) * dither;
          here[(x + 2) * 4 + c] += err * 7.0 / 16.0;
          next[x * 4 + c] += err * 3.0 / 16.0;
          next[(x + 1) * 4 + c] += err * 5.0 / 16.0;
          next[(x + 2) * 4 + c] += err / 16.0;
        }
      }
      std::mem::swap(&mut here, &mut next);
      next.iter_mut().for_each(|e| *e = 0.0);
    }
  }
  let rgb = map.chunks_exact(4).flat_map(|c| [c[0], c[1], c[2]]).collect();
  let alpha: Vec<u8> = map.chunks_exact(4).map(|c| c[3]).collect();
  let alpha = alpha.iter().rposition(|&a| a < 255).map(|last| alpha[..=last].to_vec());
  Ok(Indexed { indices, rgb, alpha })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn gradient(w: u32, h: u32, channels: u8) -> Pixels {
    let data = (0..w * h).flat_map(|i| {
      let v = (i * 255 / (w * h)) as u8;
      [v, 255 - v, v / 2, 128][..usize::from(channels)].to_vec()
    });
    Pixels { data: data.collect(), width: w, height: h, channels }
  }

  #[test]
  fn at_most_colours_entries_and_indices_in_range() {
    for (colours, dither, channels) in [(2, 1.0, 3), (16, 0.0, 3), (256, 0.5, 4), (64, 1.0, 4)] {
      let q = quantise(&gradient(40, 30, channels), Palette { colours, dither }, &Cancel::never()).unwrap();
      let n = q.rgb.len() / 3;
      assert!(n <= usize::from(colours), "{n} > {colours}");
      assert_eq!(q.indices.len(), 40 * 30);
      assert!(q.indices.iter().all(|&i| usize::from(i) < n));
      assert_eq!(q.alpha.is_some(), channels == 4, "tRNS only for translucent input");
    }
  }

  #[test]
  fn cancelled_stops() {
    let cancel = Cancel::new();
    cancel.cancel();
    let e = quantise(&gradient(40, 30, 3), Palette { colours: 16, dither: 1.0 }, &cancel).err().unwrap();
    assert_eq!(e.code, crate::error::Code::Aborted);
  }

  #[test]
  fn few_colours_are_kept_exactly() {
    let mut data = [10u8, 20, 30, 255].repeat(50);
    data[4..8].copy_from_slice(&[0, 0, 255, 255]);
    data[8..12].copy_from_slice(&[0, 0, 255, 0]);
    let q = quantise(&Pixels { data, width: 10, height: 5, channels: 4 }, Palette { colours: 3, dither: 1.0 }, &Cancel::never()).unwrap();
    assert_eq!(q.rgb, vec![10, 20, 30, 0, 0, 255, 0, 0, 255]);
    assert_eq!(q.alpha, Some(vec![255, 255, 0]));
    assert_eq!(&q.indices[..4], &[0, 1, 2, 0]);
  }

  #[test]
  fn tiny_images() {
    let q = quantise(&gradient(1, 1, 3), Palette { colours: 2, dither: 1.0 }, &Cancel::never()).unwrap();
    assert_eq!(q.indices.len(), 1);
  }
}
