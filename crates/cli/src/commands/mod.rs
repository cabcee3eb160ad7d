//! One module per subcommand; each parses its flags, calls the library crates, and reports.

pub mod backends;
pub mod bench;
pub mod common;
pub mod configs;
pub mod data;
pub mod diagnose;
pub mod doctor;
pub mod eval;
pub mod export;
pub mod init;
pub mod lecture;
mod lecture_page;
pub mod sample;
pub mod slurm;
pub mod sweep;
pub mod train;

/// The configs that ship inside the binary, so `makemore train` and `makemore lecture` work
/// from any directory.
pub mod builtin {
    /// The default config's name in messages.
    pub const DEFAULT_NAME: &str = "configs/default.toml";
    /// `configs/default.toml`.
    pub const DEFAULT: &str = include_str!("../../../../configs/default.toml");
    /// The lecture's five rows: (name, config, lecture train loss, lecture val loss).
    pub const LECTURE: [(&str, &str, f64, f64); 5] = [
        (
            "original",
            include_str!("../../../../configs/lecture/original.toml"),
            2.1245,
            2.1682,
        ),
        (
            "fix-softmax",
            include_str!("../../../../configs/lecture/fix-softmax.toml"),
            2.07,
            2.13,
        ),
        (
            "fix-tanh",
            include_str!("../../../../configs/lecture/fix-tanh.toml"),
            2.0356,
            2.1027,
        ),
        (
            "kaiming",
            include_str!("../../../../configs/lecture/kaiming.toml"),
            2.0377,
            2.1070,
        ),
        (
            "batchnorm",
            include_str!("../../../../configs/lecture/batchnorm.toml"),
            2.0668,
            2.1048,
        ),
    ];

    /// The lecture's deep stack with the hidden gain 0.5 (activations shrink with depth).
    pub const DEEP_GAIN_HALF: &str =
        include_str!("../../../../configs/lecture/deep-tanh-gain-0.5.toml");
    /// The lecture's deep stack with the hidden gain 3 (tanh saturates).
    pub const DEEP_GAIN_3: &str = include_str!("../../../../configs/lecture/deep-tanh-gain-3.toml");
    /// The lecture's deep stack without tanh, gain 1.
    pub const DEEP_LINEAR: &str = include_str!("../../../../configs/lecture/deep-linear.toml");
    /// The lecture's deep stack with BatchNorm.
    pub const DEEP_BATCHNORM: &str =
        include_str!("../../../../configs/lecture/deep-batchnorm.toml");
    /// The lecture's deep stack with tanh's gain 5/3.
    pub const DEEP_KAIMING: &str =
        include_str!("../../../../configs/lecture/deep-tanh-kaiming.toml");

    /// Every shipped config by name, for a sweep's `base`.
    pub const CONFIGS: [(&str, &str); 15] = [
        ("default", DEFAULT),
        ("original", LECTURE[0].1),
        ("fix-softmax", LECTURE[1].1),
        ("fix-tanh", LECTURE[2].1),
        ("kaiming", LECTURE[3].1),
        ("batchnorm", LECTURE[4].1),
        ("deep-batchnorm", DEEP_BATCHNORM),
        (
            "deep-tanh-no-norm",
            include_str!("../../../../configs/lecture/deep-tanh-no-norm.toml"),
        ),
        ("deep-tanh-kaiming", DEEP_KAIMING),
        ("deep-tanh-gain-0.5", DEEP_GAIN_HALF),
        ("deep-tanh-gain-3", DEEP_GAIN_3),
        ("deep-linear", DEEP_LINEAR),
        (
            "deep-layernorm-residual",
            include_str!("../../../../configs/mitigations/deep-layernorm-residual.toml"),
        ),
        (
            "deep-groupnorm-rmsprop",
            include_str!("../../../../configs/mitigations/deep-groupnorm-rmsprop.toml"),
        ),
        (
            "deep-batchnorm-plain",
            include_str!("../../../../configs/mitigations/deep-batchnorm-plain.toml"),
        ),
    ];

    /// The built-in sweeps (`configs/experiments/`), usable by name.
    pub const EXPERIMENTS: [(&str, &str); 3] = [
        (
            "init-sensitivity",
            include_str!("../../../../configs/experiments/init-sensitivity.toml"),
        ),
        (
            "gain-by-activation",
            include_str!("../../../../configs/experiments/gain-by-activation.toml"),
        ),
        (
            "batchnorm-lr",
            include_str!("../../../../configs/experiments/batchnorm-lr.toml"),
        ),
    ];

    /// The config a `--config` or a sweep's `base` names: `(where it is, its text)`.
    pub fn config(name: &str) -> Option<(String, String)> {
        let name = name.trim_end_matches(".toml");
        CONFIGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| (format!("built-in config {n}"), text.to_string()))
    }

    /// The built-in configs' names.
    pub fn names() -> Vec<&'static str> {
        CONFIGS.iter().map(|(n, _)| *n).collect()
    }

    /// A config's one-line description: the first sentence of its leading comment.
    pub fn description(text: &str) -> String {
        let header: Vec<&str> = text
            .lines()
            .map_while(|l| l.strip_prefix('#'))
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect();
        let joined = header.join(" ");
        let end = joined
            .find(". ")
            .map_or(joined.len(), |i| i + 1)
            .min(joined.len());
        joined[..end].to_string()
    }
}
