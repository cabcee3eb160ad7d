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

/// Samples `opts.n` items, all in parallel: one forward pass of `[n, block_size]` per character
/// position, the draw itself on the host. `model` should be a no-autodiff copy.
pub fn sample(
    model: &Mlp,
    vocab: &Vocabulary,
    block_size: usize,
    opts: &SampleOptions,
    device: &Device,
) -> Vec<String> {
    let n = opts.n;
    let v = vocab.len();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut ctx = vec![0i64; n * block_size];
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut done = vec![false; n];
    let mut probs = vec![0f64; v];
    let mut order: Vec<usize> = (0..v).collect();
    for _ in 0..opts.max_len {
        if done.iter().all(|&d| d) {
            break;
        }
        let x = Tensor::<2, Int>::from_data(TensorData::new(ctx.clone(), [n, block_size]), device);
        let logits = to_host(model.forward(x, NormMode::Eval));
        for row in 0..n {
            if done[row] {
                continue;
            }
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
                done[row] = true;
            } else {
                out[row].push(token as u32);
                let c = &mut ctx[row * block_size..(row + 1) * block_size];
                c.rotate_left(1);
                c[block_size - 1] = token as i64;
            }
        }
    }
    out.iter()
        .map(|ids| {
            vocab
                .decode(ids)
                .expect("sampled ids are in the vocabulary")
        })
        .collect()
}
