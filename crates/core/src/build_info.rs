//! What this build of the native code is, asked of the code itself at run
//! time: a build that lost libjpeg-turbo's SIMD runs JPEG work about 2x
//! slower and otherwise looks the same, so the prebuilt binaries' checks and
//! users ask here instead of trusting the build log (see crates/core/build.rs).

use std::os::raw::c_int;

extern "C" {
  // libjpeg-turbo's own dispatch checks (jsimd.h), linked in from mozjpeg-sys.
  // Each says whether that routine will run its SIMD version on this CPU;
  // the build without SIMD (jsimd_none.c) answers 0 to all of them.
  fn jsimd_can_idct_islow() -> c_int;
  fn jsimd_can_fdct_islow() -> c_int;
}

/// The Rust target triple this binary was built for.
pub const TARGET: &str = env!("RUSQUE_TARGET");

/// True when JPEG decoding (inverse DCT) and encoding (forward DCT) both run
/// libjpeg-turbo's SIMD code on this machine.
pub fn jpeg_simd() -> bool {
  // SAFETY: both functions take no arguments and only read the CPU's
  // features into a thread-local on first use.
  unsafe { jsimd_can_idct_islow() != 0 && jsimd_can_fdct_islow() != 0 }
}

#[cfg(test)]
mod tests {
  #[test]
  fn jpeg_simd_on_x86_64() {
    // nasm is required to build on x86 (build.rs); only the opt-out builds without it.
    if cfg!(target_arch = "x86_64") && option_env!("RUSQUE_ALLOW_NO_SIMD") != Some("1") {
      assert!(super::jpeg_simd(), "libjpeg-turbo reports no SIMD on x86_64");
    }
  }
}
