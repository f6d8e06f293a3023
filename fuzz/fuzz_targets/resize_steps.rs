#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};

// extract, rotate (any angle), flip, flop, blur, sharpen and greyscale around the resize.
fuzz_target!(|data: &[u8]| -> Corpus { rusque_fuzz::check_resize_steps(data) });
