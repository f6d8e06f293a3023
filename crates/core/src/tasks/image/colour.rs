//! Colour management: pixels tagged with an embedded ICC profile (Display P3
//! from phones, Adobe RGB from cameras) are converted to sRGB, because the
//! output is written without a profile and viewers assume sRGB.

use super::decode::Pixels;

/// Converts `pixels` from the colour space of `icc` to sRGB in place. Profiles
/// that are sRGB already, unreadable, or not RGB leave the pixels untouched.
pub fn to_srgb(pixels: &mut Pixels, icc: &[u8]) {
  if let Some(transform) = ToSrgb::new(icc, pixels.channels) {
    transform.apply(&mut pixels.data);
  }
}

/// The conversion from one profile to sRGB, made once and applied to any
/// number of rows (the pipelined resize converts a band at a time).
pub struct ToSrgb(qcms::Transform);

impl ToSrgb {
  /// None for a profile that is sRGB already, unreadable, or not RGB:
  /// nothing to convert.
  pub fn new(icc: &[u8], channels: u8) -> Option<Self> {
    let input = qcms::Profile::new_from_slice(icc, false)?;
    if input.is_sRGB() {
      return None;
    }
    let mut output = qcms::Profile::new_sRGB();
    output.precache_output_transform();
    let data_type = if channels == 4 { qcms::DataType::RGBA8 } else { qcms::DataType::RGB8 };
    qcms::Transform::new(&input, &output, data_type, qcms::Intent::Perceptual).map(ToSrgb)
  }

  /// Converts whole pixels of the channels given to `new`, in place.
  pub fn apply(&self, data: &mut [u8]) {
    self.0.apply(data);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn garbage_profile_leaves_pixels_alone() {
    let mut p = Pixels { data: vec![10, 20, 30], width: 1, height: 1, channels: 3 };
    to_srgb(&mut p, b"not an icc profile");
    assert_eq!(p.data, vec![10, 20, 30]);
  }
}
