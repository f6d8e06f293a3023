#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};

// A composite overlay of hostile bytes (any image format) onto a small base.
fuzz_target!(|data: &[u8]| -> Corpus { rusque_fuzz::check_resize_composite(data) });
