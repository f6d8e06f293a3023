#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use rusque_core::tasks::image::Format;

// Header, pixel limit, the HEIF item walk (iinf, iloc, alpha item), the AV1
// sequence header size check, libaom's decode and the YUV conversion, then
// resample and AVIF encode, for AVIF input. libaom is C: what it must do on
// hostile input is return an error code, never crash or hang.
fuzz_target!(|data: &[u8]| -> Corpus { rusque_fuzz::check_resize(data, Format::Avif) });
