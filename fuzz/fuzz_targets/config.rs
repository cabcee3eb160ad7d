//! Any text as a config file (and as a `--set` override): parsing never panics, and whatever is
//! accepted is valid and survives a round trip through TOML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_config::RunConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (doc, set) = text.split_once("\n--set ").unwrap_or((text, ""));
    let overrides: Vec<String> = if set.is_empty() { vec![] } else { vec![set.to_string()] };
    if let Ok(cfg) = RunConfig::from_toml_str(doc, "fuzz", &overrides) {
        cfg.validate("fuzz").expect("an accepted config is valid");
        let back = RunConfig::from_toml_str(&cfg.to_toml(), "fuzz", &[]).expect("a saved config reloads");
        assert_eq!(back.to_toml(), cfg.to_toml());
    }
});
