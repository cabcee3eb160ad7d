//! The text reports that several commands print: a run's summary, and a diagnosis's tables and
//! advice.

use makemore_diagnostics::{layer_table, param_table};
use makemore_train::{Diagnosis, RunSummary};

/// The text report of a run.
pub fn print_summary(s: &RunSummary) {
    println!(
        "train {:.4}  val {:.4}  test {:.4}",
        s.train_loss, s.val_loss, s.test_loss
    );
    println!(
        "first loss {:.4} (ln {} = {:.4})",
        s.first_loss, s.vocab_size, s.expected_first_loss
    );
    println!(
        "{} parameters, {} steps in {:.2} s ({:.0} us/step) on {}, seed {}",
        s.parameters, s.steps, s.seconds, s.us_per_step, s.backend, s.seed
    );
    if let Some(dir) = &s.run_dir {
        println!("run directory: {dir}");
    }
}

/// The lecture's tables for the first and last record, then the advice.
pub fn print_diagnosis(d: &Diagnosis) {
    let first = d.records.first();
    let last = d.records.last();
    if let Some(r) = first {
        // The model's layers as the tables number them: 0 Linear, 1 BatchNorm1d, 2 Tanh, ...
        let layers: Vec<String> = r
            .layers
            .iter()
            .map(|l| format!("{} {}", l.layer.index, l.layer.kind.label()))
            .collect();
        println!("layers: {}", layers.join(", "));
    }
    for r in first
        .into_iter()
        .chain(last.filter(|l| Some(l.step) != first.map(|f| f.step)))
    {
        println!("{}{}", layer_table(r), param_table(r));
    }
    if d.advice.is_empty() {
        println!("advice: none, nothing looks wrong");
    } else {
        println!("advice:");
        for a in &d.advice {
            println!("- {}", a.message);
        }
    }
    if let Some(p) = &d.report {
        println!("report: {}", p.display());
    }
}
