//! The calling thread joins the CPU kernels' pool (its own test binary: the pool is global to a
//! process, and it must not exist before the call).
#![cfg(feature = "flex")]

use burn::tensor::{Int, Tensor, TensorData};
use makemore_model::config::{OptimizerConfig, RunConfig};
use makemore_model::loss::cross_entropy;
use makemore_model::optim::Optimizer;
use makemore_model::{BackendKind, Mlp, NormMode, Source};

/// Precedes the values `joined_first` prints.
const MARK: &str = "parameters after two steps: ";

/// Rows and width at which a block's product and passes split over every core.
const ROWS: usize = 256;
const WIDTH: usize = 512;

/// Two SGD steps of a stack wide enough for its products and passes to split, from the same
/// seed and batch: the parameters after them.
fn two_steps() -> Vec<Vec<f32>> {
    let text = format!("[model]\nhidden = [{WIDTH}, {WIDTH}]\n");
    let c = RunConfig::from_toml_str(&text, "test", &[]).unwrap();
    let d = BackendKind::Flex.open().unwrap().autodiff();
    let source = Source::Init {
        roles: &c.init,
        seed: c.train.seed,
    };
    let mut m = Mlp::build(&c.model, 27, source, &d).unwrap();
    let ids: Vec<i64> = (0..ROWS * 3).map(|i| (i * 7 % 27) as i64).collect();
    let targets: Vec<i64> = (0..ROWS).map(|i| (i * 5 % 27) as i64).collect();
    let mut opt = Optimizer::new(OptimizerConfig::default());
    for _ in 0..2 {
        let x = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [ROWS, 3]), &d);
        let y = Tensor::<1, Int>::from_data(TensorData::new(targets.clone(), [ROWS]), &d);
        let grads = cross_entropy(m.forward(x, NormMode::Train), y).backward();
        m = opt.step(m, &grads, 0.1, false).0;
    }
    m.tensors().into_iter().map(|t| t.data).collect()
}

#[test]
fn the_training_thread_joins_the_pool_and_steps_as_any_other_thread() {
    // Outside the pool (a fresh thread, as `--jobs` workers are), before it is joined.
    let outside = std::thread::spawn(two_steps).join().unwrap();
    assert_eq!(rayon::current_thread_index(), None);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let single = cores < 2 || std::env::var("RAYON_NUM_THREADS").is_ok_and(|v| v == "1");
    if single {
        assert!(
            !makemore_model::join_kernel_pool(),
            "one thread: no pool to join"
        );
        return;
    }
    // The pool was used above, so it exists: joining must refuse and change nothing ...
    assert!(!makemore_model::join_kernel_pool());
    assert_eq!(rayon::current_thread_index(), None);
    // ... which is why `makemore` joins first thing. A fresh process does here.
    let bin = std::env::current_exe().unwrap();
    let joined = std::process::Command::new(bin)
        .args(["--exact", "joined_first", "--nocapture", "--ignored"])
        .env_remove("RUST_TEST_THREADS") // one test thread would print on the test's line
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&joined.stdout);
    let err = String::from_utf8_lossy(&joined.stderr);
    assert!(joined.status.success(), "{out}\n{err}");
    let json = out
        .split_once(MARK)
        .and_then(|(_, rest)| rest.lines().next())
        .unwrap_or_else(|| panic!("no values in the output: {out}"));
    let inside: Vec<Vec<f32>> = serde_json::from_str(json).unwrap();
    assert_eq!(inside, outside, "the same values on the pool's thread 0");
}

/// Run by the test above in a fresh process: joins, then steps on thread 0 of the pool.
#[test]
#[ignore = "run by the_training_thread_joins_the_pool_and_steps_as_any_other_thread"]
fn joined_first() {
    // A thread of another pool cannot join, and trying leaves the global pool to set up.
    let other = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    assert!(!other.install(makemore_model::join_kernel_pool));
    assert!(makemore_model::join_kernel_pool(), "the first call joins");
    assert_eq!(rayon::current_thread_index(), Some(0));
    assert!(!makemore_model::join_kernel_pool(), "only once");
    let params = two_steps();
    println!("{MARK}{}", serde_json::to_string(&params).unwrap());
}
