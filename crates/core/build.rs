//! Refuses to build a slow JPEG codec by accident.
//!
//! mozjpeg-sys compiles libjpeg-turbo's x86 SIMD code with nasm, which it looks
//! up as `nasm` on PATH. Without it, it prints one cargo warning (hidden in a
//! normal build) and compiles the plain C code: every JPEG decode and encode
//! is then about twice as slow (sharp's benchmark case went from 16.6 ms to
//! 32.6 ms per call). So on x86 and x86_64 a build without SIMD fails here,
//! unless RUSQUE_ALLOW_NO_SIMD=1 says the slow path is wanted.
//!
//! The check reads what mozjpeg-sys actually configured (`WITH_SIMD` in the
//! jconfig.h it generated, found through its `links = "jpeg"` metadata), not
//! whether nasm is on PATH now: mozjpeg-sys does not rebuild when PATH
//! changes, so a build cached from before nasm was installed stays slow.
//! At run time `build_info::jpeg_simd()` asks libjpeg-turbo itself.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

const OPT_OUT: &str = "RUSQUE_ALLOW_NO_SIMD";

fn main() {
  println!("cargo:rerun-if-changed=build.rs");
  println!("cargo:rerun-if-env-changed={OPT_OUT}");
  if let Ok(target) = env::var("TARGET") {
    println!("cargo:rustc-env=RUSQUE_TARGET={target}");
  }

  let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
  if arch != "x86" && arch != "x86_64" {
    return; // elsewhere libjpeg-turbo's SIMD needs no extra tool (NEON through the C compiler)
  }

  let config = env::var_os("DEP_JPEG_INCLUDE")
    .map(|dirs| env::split_paths(&dirs).map(|d| d.join("jconfig.h")).collect::<Vec<PathBuf>>())
    .unwrap_or_default()
    .into_iter()
    .find(|p| p.is_file());
  let Some(config) = config else {
    // Not fatal: a mozjpeg-sys that no longer publishes its include dir. The
    // runtime probe (buildInfo().simd.jpeg) still tells the truth.
    println!("cargo:warning=rusque: cannot find mozjpeg-sys's jconfig.h (DEP_JPEG_INCLUDE); not checking for SIMD");
    return;
  };
  println!("cargo:rerun-if-changed={}", config.display());
  let simd = fs::read_to_string(&config).map(|s| s.contains("#define WITH_SIMD 1")).unwrap_or(false);
  if simd {
    return;
  }

  let allowed = env::var(OPT_OUT).map(|v| v == "1").unwrap_or(false);
  if allowed {
    println!(
      "cargo:warning=rusque: building the JPEG codec WITHOUT SIMD ({OPT_OUT}=1): JPEG decode and encode are about 2x slower. Install nasm and rebuild for the fast path."
    );
    return;
  }

  let nasm = match Command::new("nasm").arg("-v").output() {
    Ok(out) if out.status.success() => format!("`nasm -v` now says: {}", String::from_utf8_lossy(&out.stdout).trim()),
    Ok(_) => "`nasm -v` fails".to_string(),
    Err(_) => "nasm is not on PATH".to_string(),
  };
  let lines = [
    format!("error: rusque needs nasm to build its JPEG codec with SIMD on {arch}."),
    String::new(),
    format!("  mozjpeg-sys compiled libjpeg-turbo without its SIMD code ({nasm})."),
    "  That build works, but decodes and encodes JPEG about 2x slower.".to_string(),
    String::new(),
    "  Install nasm (2.x or later) and build again:".to_string(),
    "    Debian/Ubuntu:  apt-get install nasm".to_string(),
    "    Alpine:         apk add nasm".to_string(),
    "    macOS:          brew install nasm".to_string(),
    "    Windows:        choco install nasm  (then open a new shell, so nasm is on PATH)".to_string(),
    String::new(),
    "  If nasm is installed now but was not when mozjpeg-sys was first built, that".to_string(),
    "  cached build stays without SIMD: run `cargo clean -p mozjpeg-sys` (with the".to_string(),
    "  same CARGO_TARGET_DIR, and --release / --target as the build used) and build again.".to_string(),
    String::new(),
    format!("  To build the slow codec knowingly, set {OPT_OUT}=1."),
  ];
  eprintln!("\n{}\n", lines.join("\n"));
  std::process::exit(1);
}
