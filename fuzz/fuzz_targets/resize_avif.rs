#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use rusque_core::tasks::image::Format;

// Header, pixel limit, the HEIF item walk (iinf, iloc, alpha), rav1d's
// decode, then resample and AVIF encode, for AVIF input. rav1d is called
// through its C API (extern "C"): a panic inside it aborts the process, so
// this target is how its behaviour on hostile input gets checked.
fuzz_target!(|data: &[u8]| -> Corpus { rusque_fuzz::check_resize(data, Format::Avif) });
