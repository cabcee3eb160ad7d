//! Any text as `run.json`: reading it never panics, and an accepted vocabulary is valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_train::RunInfo;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = RunInfo::from_json(text, Path::new("fuzz/run.json")) {
        info.vocab.validate().expect("an accepted vocabulary is valid");
    }
});
