//! One module per subcommand; each parses its flags, calls the library crates, and reports.

pub mod backends;
pub mod bench;
pub mod common;
pub mod data;
pub mod diagnose;
pub mod eval;
pub mod export;
pub mod init;
pub mod lecture;
pub mod sample;
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
}
