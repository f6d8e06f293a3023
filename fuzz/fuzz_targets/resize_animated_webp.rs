#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use rusque_core::tasks::image::Format;

// animated: true on webp input: the frame walk, every frame decoded, resized
// and written as an animated GIF or WebP.
fuzz_target!(|data: &[u8]| -> Corpus { rusque_fuzz::check_resize_animated(data, Format::Webp) });
