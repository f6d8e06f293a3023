fn main() {
  napi_build::setup();
  // rav1d's x86 assembly addresses its tables (Rust statics it exports as
  // dav1d_*) PC-relatively; in a shared object those symbols must bind
  // inside it, or the linker refuses the relocations. Nothing outside the
  // addon is meant to see them.
  if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
  }
}
