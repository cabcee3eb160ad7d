//! Any text as `model.json`: reading it never panics, and an accepted file's digest matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_model::weights::WeightsFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(w) = WeightsFile::from_json(text, "fuzz/model.json") {
        WeightsFile::from_json(&w.to_json(), "fuzz").expect("an accepted file reads back");
    }
});
