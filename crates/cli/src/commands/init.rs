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
    /// The nonlinearity after the layer: tanh, relu, leaky_relu[:slope], gelu, sigmoid, identity.
    #[arg(long, default_value = "identity")]
    nonlinearity: String,
    /// Inputs of the layer.
    #[arg(long)]
    fan_in: usize,
    /// Outputs of the layer.
    #[arg(long)]
    fan_out: usize,
    /// fan_in or fan_out (Kaiming schemes).
    #[arg(long, default_value = "fan_in")]
    mode: String,
    /// auto, empirical or a number.
    #[arg(long, default_value = "auto")]
    gain: String,
    /// Final multiplier.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
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
pub fn run(cmd: InitCommand) -> Result<(), Failure> {
    let InitCommand::Show(a) = cmd;
    let activation = Activation::parse(&a.nonlinearity).ok_or_else(|| {
        Failure::input(format!(
            "--nonlinearity: unknown {:?}; expected one of: {}",
            a.nonlinearity,
            Activation::NAMES.join(", ")
        ))
    })?;
    let mode = FanMode::parse(&a.mode).ok_or_else(|| {
        Failure::input(format!(
            "--mode: unknown {:?}; expected fan_in or fan_out",
            a.mode
        ))
    })?;
    let gain = Gain::parse(&a.gain).ok_or_else(|| {
        Failure::input(format!(
            "--gain: {:?} is not auto, empirical or a number",
            a.gain
        ))
    })?;
    let scheme = Scheme::from_parts(&a.scheme, gain, mode, a.scale, a.std, a.bound, a.value)?;
    let resolved = scheme.resolve(
        Fans {
            fan_in: a.fan_in,
            fan_out: a.fan_out,
        },
        activation,
    )?;
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
    if a.json {
        print_json(&report);
    } else {
        println!(
            "{} before {} (fan_in {}, fan_out {})",
            report.scheme, report.nonlinearity, a.fan_in, a.fan_out
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
    Ok(())
}
