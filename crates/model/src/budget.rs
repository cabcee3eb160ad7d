//! Memory a command will need, estimated from the config and the corpus before anything is
//! allocated, and the limit it must fit under (`--max-memory`, else the memory the system says is
//! available). Estimates are deliberately rough (within a small factor) and use 128-bit
//! arithmetic, so no user's number can overflow them.

use crate::config::{Norm, RunConfig};
use crate::error::RunError;

/// Rows per forward pass when evaluating (bounded memory: 4,096 x 200 floats per layer).
pub const EVAL_CHUNK: usize = 4096;
/// Bytes per `f32`.
const F32: u128 = 4;
/// Copies of each parameter a training run keeps: the value, its gradient, up to two optimizer
/// moments, a divergence snapshot and the host copies a checkpoint serializes (as JSON text,
/// about four times the binary size).
const PARAM_COPIES: u128 = 10;
/// Tensors per hidden unit and example in a training step: Linear, norm and activation outputs,
/// and a gradient of each, with some slack for Burn's temporaries.
const ACTIVATION_COPIES: u128 = 8;
/// Bytes per context token of a window: `u32` on the host, `i64` on the device, and (counted for
/// every split, though only the training split keeps one) a second `u32` copy on the host, where
/// host training steps gather their minibatches.
const WINDOW_TOKEN: u128 = 16;

/// The most memory a command may use, and where that number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes.
    pub limit: u64,
    /// Whether the user set it (`--max-memory`) rather than the system's available memory.
    pub explicit: bool,
}

impl Budget {
    /// `max` when given, else the memory the system has available (`MemAvailable` on Linux;
    /// without it, no limit).
    pub fn new(max: Option<u64>) -> Self {
        match max {
            Some(limit) => Self {
                limit,
                explicit: true,
            },
            None => Self {
                limit: available_memory().unwrap_or(u64::MAX),
                explicit: false,
            },
        }
    }

    /// Refuses when the `parts` (what each field of the input costs, `None` for a sum that does
    /// not even fit 128 bits) add up to more than the limit, naming the costliest field.
    pub fn check(&self, parts: &[(String, Option<u128>)]) -> Result<(), RunError> {
        let total = parts
            .iter()
            .try_fold(0u128, |acc, (_, b)| b.and_then(|b| acc.checked_add(b)));
        if total.is_some_and(|t| t <= u128::from(self.limit)) {
            return Ok(());
        }
        let field = parts
            .iter()
            .max_by_key(|(_, b)| b.unwrap_or(u128::MAX))
            .map(|(f, _)| f.clone())
            .unwrap_or_default();
        Err(RunError::TooLarge {
            field,
            needed: total,
            limit: self.limit,
            explicit: self.explicit,
        })
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn mul(xs: &[u128]) -> Option<u128> {
    xs.iter().try_fold(1u128, |acc, &x| acc.checked_mul(x))
}

fn sum(xs: &[Option<u128>]) -> Option<u128> {
    xs.iter()
        .try_fold(0u128, |acc, &x| x.and_then(|x| acc.checked_add(x)))
}

/// What training `cfg` on `windows` windows with `vocab` tokens costs, field by field: the
/// parameters (named by the widest input of a layer), the windows (`model.block_size`), a
/// batch's activations and gradients (`train.batch_size`), an evaluation chunk, and the losses
/// kept between log points (`train.log_every`) and, for the loss plot, over the whole run
/// (`train.steps`).
pub fn training_needs(
    cfg: &RunConfig,
    vocab: usize,
    windows: usize,
) -> Vec<(String, Option<u128>)> {
    let m = &cfg.model;
    let (vocab, n_embd, block) = (vocab as u128, m.n_embd as u128, m.block_size as u128);
    let input = n_embd.checked_mul(block);
    let mut widths = vec![input];
    widths.extend(m.hidden.iter().map(|&w| Some(w as u128)));
    widths.push(Some(vocab));
    // A Linear of fan_in x fan_out with its bias and norm: (fan_in + 3) * fan_out values.
    let mut params = vec![(
        "model.n_embd".to_string(),
        mul(&[vocab, n_embd, F32, PARAM_COPIES]),
    )];
    for (i, pair) in widths.windows(2).enumerate() {
        let field = if i < m.hidden.len() {
            format!("model.hidden[{i}]")
        } else {
            "model.hidden".to_string()
        };
        let norm = !matches!(
            if i < m.hidden.len() {
                &m.norm
            } else {
                &m.output_norm
            },
            Norm::None
        );
        let cost = match (pair[0], pair[1]) {
            (Some(fan_in), Some(fan_out)) => fan_in
                .checked_add(1 + 2 * u128::from(norm))
                .and_then(|f| mul(&[f, fan_out, F32, PARAM_COPIES])),
            _ => None,
        };
        params.push((field, cost));
    }
    let units = sum(&widths);
    let rows_per_step = cfg.train.batch_size as u128;
    let step = units.and_then(|u| mul(&[rows_per_step, u, F32, ACTIVATION_COPIES]));
    let eval = units.and_then(|u| mul(&[EVAL_CHUNK as u128, u, F32, ACTIVATION_COPIES]));
    let windows_cost = mul(&[windows as u128, block.saturating_add(1), WINDOW_TOKEN]);
    let logged = u128::from(cfg.train.log_every.min(cfg.train.steps));
    let mut parts = params;
    parts.extend([
        ("model.block_size".to_string(), windows_cost),
        ("train.batch_size".to_string(), step),
        ("model.hidden (evaluation)".to_string(), eval),
        ("train.log_every".to_string(), mul(&[logged, F32 * 2])),
        (
            "train.steps".to_string(),
            mul(&[u128::from(cfg.train.steps), F32]),
        ),
    ]);
    parts
}

/// What holding `windows` context windows of `block_size` tokens costs, charged to `field`.
pub fn windows_needs(
    field: &str,
    windows: usize,
    block_size: usize,
) -> Vec<(String, Option<u128>)> {
    let cost = mul(&[
        windows as u128,
        (block_size as u128).saturating_add(1),
        WINDOW_TOKEN,
    ]);
    vec![(field.to_string(), cost)]
}

/// What sampling `n` items of at most `max_len` characters from a model with these widths
/// costs, charged to `field`: a batch of contexts, the logits and the activations of one forward
/// pass, and the items themselves.
pub fn sampling_needs(
    field: &str,
    cfg: &RunConfig,
    vocab: usize,
    n: usize,
    max_len: usize,
) -> Vec<(String, Option<u128>)> {
    let m = &cfg.model;
    let units = m
        .hidden
        .iter()
        .map(|&w| Some(w as u128))
        .chain([
            (m.n_embd as u128).checked_mul(m.block_size as u128),
            Some(vocab as u128 * 3),
        ])
        .collect::<Vec<_>>();
    let per_item = sum(&units).and_then(|u| {
        u.checked_mul(F32 * 2)?
            .checked_add((m.block_size as u128).checked_mul(8)?)?
            .checked_add((max_len as u128).checked_mul(F32)?)
    });
    vec![(
        field.to_string(),
        per_item.and_then(|p| p.checked_mul(n as u128)),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use makemore_files::human_bytes;

    fn lecture() -> RunConfig {
        RunConfig::default()
    }

    #[test]
    fn the_lectures_run_fits_in_a_few_hundred_megabytes() {
        let parts = training_needs(&lecture(), 27, 228_146);
        let total = sum(&parts.iter().map(|p| p.1).collect::<Vec<_>>()).unwrap();
        assert!(total < 300_000_000, "{}", human_bytes(total));
        assert!(Budget::new(Some(1 << 30)).check(&parts).is_ok());
    }

    #[test]
    fn an_absurd_width_is_refused_naming_its_field() {
        let mut cfg = lecture();
        cfg.model.hidden = vec![100_000_000_000];
        let err = Budget::new(Some(1 << 34))
            .check(&training_needs(&cfg, 27, 228_146))
            .unwrap_err();
        match err {
            RunError::TooLarge { field, needed, .. } => {
                assert!(field.starts_with("model.hidden"), "{field}");
                assert!(needed.is_some_and(|n| n > 1 << 40));
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn numbers_that_overflow_every_integer_are_refused_not_wrapped() {
        let mut cfg = lecture();
        cfg.model.block_size = usize::MAX;
        cfg.model.n_embd = usize::MAX;
        cfg.train.batch_size = usize::MAX;
        let err = Budget::new(Some(u64::MAX))
            .check(&training_needs(&cfg, 27, usize::MAX))
            .unwrap_err();
        assert!(matches!(err, RunError::TooLarge { .. }), "{err}");
    }
}
