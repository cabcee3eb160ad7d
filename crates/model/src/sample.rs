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

/// Samples `opts.n` items, all in parallel: one forward pass per character position, the draw
/// itself on the host, in item order. Finished items leave the batch, so each is forwarded once
/// per character it draws, unless some layer normalizes with the batch's own statistics in
/// evaluation ([`Mlp::eval_mixes_rows`]): then every row stays (finished ones with their last
/// context), so that each item sees the batch it always saw. `model` should be a no-autodiff
/// copy.
pub fn sample(
    model: &Mlp,
    vocab: &Vocabulary,
    block_size: usize,
    opts: &SampleOptions,
    device: &Device,
) -> Sampled {
    let v = vocab.len();
    let compact = !model.eval_mixes_rows();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // The batch's contexts, row by row, and which item each row is.
    let mut ctx = vec![0i64; opts.n * block_size];
    let mut items: Vec<usize> = (0..opts.n).collect();
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); opts.n];
    let mut done = vec![false; opts.n];
    let mut unfinished = opts.n;
    let mut probs = vec![0f64; v];
    let mut order: Vec<usize> = (0..v).collect();
    let mut rows_forwarded = 0;
    for _ in 0..opts.max_len {
        if unfinished == 0 {
            break;
        }
        let rows = items.len();
        rows_forwarded += rows;
        let x = Tensor::<2, Int>::from_data(
            TensorData::new(ctx[..rows * block_size].to_vec(), [rows, block_size]),
            device,
        );
        let logits = to_host(model.forward(x, NormMode::Eval));
        let mut kept = 0;
        for row in 0..rows {
            let item = items[row];
            let mut token = None;
            if !done[item] {
                let l = &logits[row * v..(row + 1) * v];
                let drawn = draw(l, opts, &mut probs, &mut order, &mut rng);
                if drawn == 0 {
                    done[item] = true;
                    unfinished -= 1;
                } else {
                    out[item].push(drawn as u32);
                    token = Some(drawn as i64);
                }
            }
            if compact && done[item] {
                continue; // its row leaves the batch
            }
            // Move the row down to its place among the kept ones and shift in its token.
            ctx.copy_within(row * block_size..(row + 1) * block_size, kept * block_size);
            if let Some(t) = token {
                let c = &mut ctx[kept * block_size..(kept + 1) * block_size];
                c.rotate_left(1);
                c[block_size - 1] = t;
            }
            items[kept] = item;
            kept += 1;
        }
        items.truncate(kept);
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

/// Draws a token from one row of logits: softmax at `opts.temperature`, the `opts.top_k` most
/// likely kept, one uniform draw from `rng` against the cumulative weights. `probs` and
/// `order` are scratch of the vocabulary's size (`order` a permutation, kept between draws).
fn draw(
    logits: &[f32],
    opts: &SampleOptions,
    probs: &mut [f64],
    order: &mut [usize],
    rng: &mut ChaCha8Rng,
) -> usize {
    let v = logits.len();
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    for (p, &x) in probs.iter_mut().zip(logits) {
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
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    v - 1
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use crate::mlp::Source;

    /// The plain algorithm: every row forwarded at every position until all items have ended,
    /// the finished ones skipped at the draw (the draw itself is `sample`'s). Returns the items
    /// and the rows forwarded.
    fn plain(
        model: &Mlp,
        vocab: &Vocabulary,
        block: usize,
        opts: &SampleOptions,
        device: &Device,
    ) -> (Vec<String>, usize) {
        let (v, n) = (vocab.len(), opts.n);
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut ctx = vec![0i64; n * block];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut done = vec![false; n];
        let (mut probs, mut order) = (vec![0f64; v], (0..v).collect::<Vec<usize>>());
        let mut rows = 0;
        for _ in 0..opts.max_len {
            if done.iter().all(|&d| d) {
                break;
            }
            rows += n;
            let x = Tensor::<2, Int>::from_data(TensorData::new(ctx.clone(), [n, block]), device);
            let logits = to_host(model.forward(x, NormMode::Eval));
            for row in 0..n {
                if done[row] {
                    continue;
                }
                let l = &logits[row * v..(row + 1) * v];
                let token = draw(l, opts, &mut probs, &mut order, &mut rng);
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
        let items = out
            .iter()
            .map(|ids| vocab.decode(ids).expect("in vocabulary"))
            .collect();
        (items, rows)
    }

    /// With running statistics the batch keeps only unfinished items (down to a few rows, below
    /// the vocabulary's size), so each is forwarded once per character it drew; with batch
    /// statistics in evaluation every row stays. Both give the items of the plain algorithm.
    #[test]
    fn finished_items_leave_the_batch_unless_rows_share_statistics() {
        let device = crate::BackendKind::Flex.device().expect("flex");
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/");
        let letters: Vec<String> = ('a'..='z').map(String::from).collect();
        let vocab = Vocabulary::from_items(&letters, '.').expect("vocabulary");
        for (name, mixes) in [
            ("lecture/deep-batchnorm", false),
            ("mitigations/deep-batchnorm-plain", true),
        ] {
            let path = std::path::PathBuf::from(format!("{root}{name}.toml"));
            let cfg = RunConfig::from_file(&path, &[]).expect("config");
            let source = Source::Init {
                roles: &cfg.init,
                seed: 3,
            };
            let model = Mlp::build(&cfg.model, vocab.len(), source, &device).expect("model");
            assert_eq!(model.eval_mixes_rows(), mixes, "{name}");
            let block = cfg.model.block_size;
            let opts = SampleOptions {
                n: 200,
                seed: 9,
                temperature: 1.0,
                top_k: Some(25),
                max_len: 80,
            };
            let got = sample(&model, &vocab, block, &opts, &device);
            let (want, plain_rows) = plain(&model, &vocab, block, &opts, &device);
            assert_eq!(got.items, want, "{name}");
            let drawn: Vec<usize> = want
                .iter()
                .map(|s| (s.chars().count() + 1).min(opts.max_len))
                .collect();
            if mixes {
                assert_eq!(got.rows_forwarded, plain_rows, "{name}: every row stays");
            } else {
                assert_eq!(got.rows_forwarded, drawn.iter().sum::<usize>(), "{name}");
                let longest = drawn.iter().max().copied().unwrap_or(0);
                let few = drawn.iter().filter(|&&d| d + 10 >= longest).count();
                assert!(
                    few < vocab.len(),
                    "{name}: the batch shrinks below the vocabulary's size ({few} rows at the end)"
                );
            }
        }
    }
}
