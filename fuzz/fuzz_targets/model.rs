//! Any text as `model.json`: parsing never panics; whatever parses with finite values, given
//! its true digest, verifies and indexes by path (non-finite values are refused).
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_model::weights::WeightsFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = WeightsFile::from_json(text, "fuzz/model.json");
    let parsed = serde_json::from_str::<WeightsFile>(text).ok();
    let finite = |w: &WeightsFile| w.tensors.iter().all(|t| t.data.iter().all(|v| v.is_finite()));
    if let Some(w) = parsed.filter(finite) {
        let fixed = WeightsFile::new(w.tensors);
        let back = WeightsFile::from_json(&fixed.to_json(), "fuzz").expect("a true digest verifies");
        let _ = back.by_path();
    }
});
