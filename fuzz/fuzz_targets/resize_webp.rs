#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use rusque_core::tasks::image::Format;

// Header, pixel limit, decode, orient, resample and encode for webp input.
fuzz_target!(|data: &[u8]| -> Corpus { rusque_fuzz::check_resize(data, Format::Webp) });
