#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};

// A tiny image and extreme resize options (sizes up to 65535, every fit,
// kernel and format, pixel limits): a result of the promised size or
// ERR_LIMIT_EXCEEDED, never a panic or an abort (issue #12: a 142-byte PNG
// resized to width 65535 used to ask for 211 TB and abort the process).
fuzz_target!(|data: &[u8]| -> Corpus { rusque_fuzz::check_resize_options(data) });
