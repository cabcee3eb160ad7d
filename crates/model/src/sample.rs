//! Drawing new items from a trained model, many at a time.

use crate::host::to_host;
use crate::mlp::Mlp;
use crate::norm::NormMode;
use burn::tensor::{Device, Int, Tensor, TensorData};
use makemore_data::Vocabulary;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// How to sample.
#[derive(Debug, Clone, Copy)]
pub struct SampleOptions {
    /// How many items.
    pub n: usize,
    /// Seed of the host-side RNG.
    pub seed: u64,
    /// Divides the logits; below 1 sharpens, above 1 flattens.
    pub temperature: f64,
    /// Keep only the k most likely tokens.
    pub top_k: Option<usize>,
    /// Stop an item after this many characters.
    pub max_len: usize,
}

/// What [`sample`] drew.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The items, in order.
    pub items: Vec<String>,
    /// Rows forwarded through the model in all: each item once per character position it
    /// drew at (its end included), so the work done is this many rows' forward passes.
    pub rows_forwarded: usize,
}

/// Samples `opts.n` items, all in parallel: one forward pass per character position over the
/// items not yet finished (`[active, block_size]`), the draw itself on the host, in item order.
/// `model` should be a no-autodiff copy. Returns the items and how many rows were forwarded in
/// all (each item once per character it drew, its end included).
pub fn sample(
    model: &Mlp,
    vocab: &Vocabulary,
    block_size: usize,
    opts: &SampleOptions,
    device: &Device,
) -> Sampled {
    let v = vocab.len();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // Contexts of the unfinished items, in item order, and which item each row is.
    let mut ctx = vec![0i64; opts.n * block_size];
    let mut active: Vec<usize> = (0..opts.n).collect();
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); opts.n];
    let mut probs = vec![0f64; v];
    let mut order: Vec<usize> = (0..v).collect();
    let mut rows_forwarded = 0;
    for _ in 0..opts.max_len {
        if active.is_empty() {
            break;
        }
        let rows = active.len();
        rows_forwarded += rows;
        let x = Tensor::<2, Int>::from_data(
            TensorData::new(ctx[..rows * block_size].to_vec(), [rows, block_size]),
            device,
        );
        let logits = to_host(model.forward(x, NormMode::Eval));
        let mut kept = 0;
        for row in 0..rows {
            let l = &logits[row * v..(row + 1) * v];
            let max = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            for (p, &x) in probs.iter_mut().zip(l) {
                *p = ((x as f64 - max) / opts.temperature).exp();
            }
            if let Some(k) = opts.top_k.filter(|&k| k < v) {
                order.sort_unstable_by(|&a, &b| probs[b].total_cmp(&probs[a]));
                for &i in &order[k..] {
                    probs[i] = 0.0;
                }
            }
            let total: f64 = probs.iter().sum();
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let mut acc = 0.0;
            let mut token = v - 1;
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if u < acc {
                    token = i;
                    break;
                }
            }
            if token == 0 {
                continue; // finished: its row is dropped
            }
            let item = active[row];
            out[item].push(token as u32);
            // Move the row down to its place among the kept ones, then shift in the token.
            ctx.copy_within(row * block_size..(row + 1) * block_size, kept * block_size);
            let c = &mut ctx[kept * block_size..(kept + 1) * block_size];
            c.rotate_left(1);
            c[block_size - 1] = token as i64;
            active[kept] = item;
            kept += 1;
        }
        active.truncate(kept);
    }
    let items = out
        .iter()
        .map(|ids| {
            vocab
                .decode(ids)
                .expect("sampled ids are in the vocabulary")
        })
        .collect();
    Sampled {
        items,
        rows_forwarded,
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use crate::mlp::Source;

    /// The batch keeps only unfinished items, so each is forwarded once per character it drew;
    /// the items are the ones the plain algorithm (every row forwarded at every position, the
    /// finished ones skipped at the draw) gives with the same seed.
    #[test]
    fn finished_items_leave_the_batch_without_changing_any_item() {
        let device = crate::BackendKind::Flex.device().expect("flex");
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/lecture/");
        let cfg = RunConfig::from_file(
            &std::path::PathBuf::from(format!("{root}deep-batchnorm.toml")),
            &[],
        )
        .expect("lecture config");
        let letters: Vec<String> = ('a'..='z').map(String::from).collect();
        let vocab = Vocabulary::from_items(&letters, '.').expect("vocabulary");
        let source = Source::Init {
            roles: &cfg.init,
            seed: 3,
        };
        let model = Mlp::build(&cfg.model, vocab.len(), source, &device).expect("model");
        let block = cfg.model.block_size;
        let opts = SampleOptions {
            n: 200,
            seed: 9,
            temperature: 1.0,
            top_k: Some(20),
            max_len: 12,
        };
        let got = sample(&model, &vocab, block, &opts, &device);

        // The plain algorithm.
        let v = vocab.len();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut ctx = vec![0i64; opts.n * block];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); opts.n];
        let mut done = vec![false; opts.n];
        for _ in 0..opts.max_len {
            let x =
                Tensor::<2, Int>::from_data(TensorData::new(ctx.clone(), [opts.n, block]), &device);
            let logits = to_host(model.forward(x, NormMode::Eval));
            for row in 0..opts.n {
                if done[row] {
                    continue;
                }
                let l = &logits[row * v..(row + 1) * v];
                let max = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                let mut p: Vec<f64> = l.iter().map(|&x| (x as f64 - max).exp()).collect();
                let mut order: Vec<usize> = (0..v).collect();
                order.sort_unstable_by(|&a, &b| p[b].total_cmp(&p[a]));
                for &i in &order[20..] {
                    p[i] = 0.0;
                }
                let total: f64 = p.iter().sum();
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
                let mut acc = 0.0;
                let token = p
                    .iter()
                    .position(|&p| {
                        acc += p;
                        u < acc
                    })
                    .unwrap_or(v - 1);
                if token == 0 {
                    done[row] = true;
                } else {
                    out[row].push(token as u32);
                    let c = &mut ctx[row * block..(row + 1) * block];
                    c.rotate_left(1);
                    c[block - 1] = token as i64;
                }
            }
        }
        let want: Vec<String> = out
            .iter()
            .map(|ids| vocab.decode(ids).expect("in vocabulary"))
            .collect();
        assert_eq!(got.items, want);
        let rows: usize = want
            .iter()
            .map(|s| (s.chars().count() + 1).min(opts.max_len))
            .sum();
        assert_eq!(got.rows_forwarded, rows);
        assert!(
            rows < opts.n * opts.max_len,
            "some items finish early, so the batch shrinks: {rows} rows"
        );
    }
}
