//! `makemore init show`.

use crate::exit::{print_json, Failure};
use clap::Subcommand;
use makemore_init::{Activation, FanMode, Fans, Gain, Scheme};
use serde::Serialize;

/// Initializer subcommands.
#[derive(Subcommand)]
pub enum InitCommand {
    /// The gain, theoretical std (and bound) of a scheme, and the statistics of one sample.
    #[command(
        after_help = "Example:\n  makemore init show --scheme kaiming_normal --nonlinearity tanh --fan-in 30 --fan-out 200 --json"
    )]
    Show(ShowArgs),
}

/// Flags of `init show`.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct ShowArgs {
    /// normal, uniform, zeros, ones, constant, xavier_normal, xavier_uniform, kaiming_normal,
    /// kaiming_uniform, pytorch_default.
    #[arg(long)]
    scheme: String,
    /// The nonlinearity after the layer: tanh, relu, leaky_relu[:slope], gelu, sigmoid, identity
    /// [default: identity] (Xavier and Kaiming schemes).
    #[arg(long)]
    nonlinearity: Option<String>,
    /// Inputs of the layer.
    #[arg(long)]
    fan_in: usize,
    /// Outputs of the layer.
    #[arg(long)]
    fan_out: usize,
    /// fan_in or fan_out [default: fan_in] (Kaiming schemes).
    #[arg(long)]
    mode: Option<String>,
    /// auto, empirical or a number [default: auto] (Xavier and Kaiming schemes).
    #[arg(long)]
    gain: Option<String>,
    /// Final multiplier [default: 1] (every scheme but zeros).
    #[arg(long)]
    scale: Option<f64>,
    /// Standard deviation (normal).
    #[arg(long)]
    std: Option<f64>,
    /// Half-width (uniform).
    #[arg(long)]
    bound: Option<f64>,
    /// The value (constant).
    #[arg(long)]
    value: Option<f64>,
    /// Seed of the sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    memory: super::common::MemoryArgs,
}

#[derive(Serialize)]
struct Report {
    scheme: &'static str,
    nonlinearity: &'static str,
    fan_in: usize,
    fan_out: usize,
    gain: f64,
    std: f64,
    bound: Option<f64>,
    sample: SampleStats,
}

#[derive(Serialize)]
struct SampleStats {
    shape: [usize; 2],
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
}

/// Runs an init subcommand.
/// The flags each scheme takes beside the fans and the seed; `value` is required by constant.
fn scheme_flags(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "normal" => &["--std", "--scale"],
        "uniform" => &["--bound", "--scale"],
        "zeros" => &[],
        "ones" | "pytorch_default" => &["--scale"],
        "constant" => &["--value", "--scale"],
        "xavier_normal" | "xavier_uniform" => &["--gain", "--nonlinearity", "--scale"],
        _ => &["--gain", "--nonlinearity", "--mode", "--scale"],
    }
}

/// Refuses a flag the scheme does not use (it would be ignored without a word), fans of 0, and
/// a constant without its value.
fn check_flags(a: &ShowArgs) -> Result<(), Failure> {
    let given = [
        ("--std", a.std.is_some()),
        ("--bound", a.bound.is_some()),
        ("--value", a.value.is_some()),
        ("--scale", a.scale.is_some()),
        ("--gain", a.gain.is_some()),
        ("--nonlinearity", a.nonlinearity.is_some()),
        ("--mode", a.mode.is_some()),
    ];
    let takes = scheme_flags(&a.scheme);
    if let Some((flag, _)) = given.iter().find(|(f, g)| *g && !takes.contains(f)) {
        return Err(Failure::input(format!(
            "{flag}: the {} scheme does not use it (it takes {})",
            a.scheme,
            if takes.is_empty() {
                "none".to_string()
            } else {
                takes.join(", ")
            }
        )));
    }
    if a.scheme == "constant" && a.value.is_none() {
        return Err(Failure::input("--value: the constant scheme needs it"));
    }
    if a.fan_in == 0 || a.fan_out == 0 {
        return Err(Failure::input("--fan-in and --fan-out: must be >= 1"));
    }
    Ok(())
}

/// Refuses a distribution whose spread or value the model's 32-bit floats cannot hold.
fn check_f32(what: &str, x: f64) -> Result<(), Failure> {
    let y = x as f32;
    if x != 0.0 && (!y.is_finite() || y.abs() < f32::MIN_POSITIVE) {
        return Err(Failure::input(format!(
            "the {what} comes to {x:e}, outside what 32-bit floats hold ({:e} to {:e}); change the numbers that multiply into it",
            f32::MIN_POSITIVE,
            f32::MAX
        )));
    }
    Ok(())
}

pub fn run(cmd: InitCommand) -> Result<(), Failure> {
    let InitCommand::Show(a) = cmd;
    if makemore_init::Scheme::from_parts(
        &a.scheme,
        Gain::Auto,
        FanMode::FanIn,
        1.0,
        None,
        None,
        Some(0.0),
    )
    .is_ok()
    {
        check_flags(&a)?;
    }
    let nonlinearity = a.nonlinearity.as_deref().unwrap_or("identity");
    let activation = Activation::parse(nonlinearity).ok_or_else(|| {
        Failure::input(format!(
            "--nonlinearity: unknown {:?}; expected one of: {}",
            nonlinearity,
            Activation::NAMES.join(", ")
        ))
    })?;
    let mode_name = a.mode.as_deref().unwrap_or("fan_in");
    let mode = FanMode::parse(mode_name).ok_or_else(|| {
        Failure::input(format!(
            "--mode: unknown {:?}; expected fan_in or fan_out",
            mode_name
        ))
    })?;
    let gain_name = a.gain.as_deref().unwrap_or("auto");
    let gain = Gain::parse(gain_name).ok_or_else(|| {
        Failure::input(format!(
            "--gain: {:?} is not auto, empirical or a number",
            gain_name
        ))
    })?;
    let scale = a.scale.unwrap_or(1.0);
    let scheme = Scheme::from_parts(&a.scheme, gain, mode, scale, a.std, a.bound, a.value)?;
    let resolved = scheme.resolve(
        Fans {
            fan_in: a.fan_in,
            fan_out: a.fan_out,
        },
        activation,
    )?;
    for (what, x) in [
        ("--value", a.value),
        ("--scale", a.scale),
        ("--std", a.std),
        ("--bound", a.bound),
    ] {
        if let Some(x) = x {
            check_f32(what, x)?;
        }
    }
    check_f32("gain", resolved.gain)?;
    check_f32("std", resolved.std())?;
    if let Some(b) = resolved.bound() {
        check_f32("bound", b)?;
    }
    // The sample is fan_in x fan_out values, drawn and held as f32.
    let bytes = (a.fan_in as u128)
        .checked_mul(a.fan_out as u128)
        .and_then(|n| n.checked_mul(4));
    a.memory
        .budget()
        .check(&[("--fan-in x --fan-out".to_string(), bytes)])?;
    let n = a.fan_in * a.fan_out; // fits: it passed the budget
    let v = resolved.sample(n, a.seed, "init-show");
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n.max(1) as f64;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n.max(1) as f64;
    let report = Report {
        scheme: resolved.scheme,
        nonlinearity: activation.name(),
        fan_in: a.fan_in,
        fan_out: a.fan_out,
        gain: resolved.gain,
        std: resolved.std(),
        bound: resolved.bound(),
        sample: SampleStats {
            shape: [a.fan_in, a.fan_out],
            mean,
            std: var.sqrt(),
            min: v.iter().cloned().fold(f32::INFINITY, f32::min).into(),
            max: v.iter().cloned().fold(f32::NEG_INFINITY, f32::max).into(),
        },
    };
    show(&report, a.json);
    Ok(())
}

/// Prints `report` (one JSON object with `json`).
fn show(report: &Report, json: bool) {
    if json {
        print_json(report);
    } else {
        println!(
            "{} before {} (fan_in {}, fan_out {})",
            report.scheme, report.nonlinearity, report.fan_in, report.fan_out
        );
        println!("  gain {:.4}", report.gain);
        println!("  std  {:.4} (theory)", report.std);
        if let Some(b) = report.bound {
            println!("  bound +-{b:.4}");
        }
        let s = &report.sample;
        println!(
            "  sample {}x{}: mean {:.4}, std {:.4}, min {:.4}, max {:.4}",
            s.shape[0], s.shape[1], s.mean, s.std, s.min, s.max
        );
    }
}
