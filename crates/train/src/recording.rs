//! Diagnostics during a run: which steps are recorded and what a record holds, the advice at
//! the end (with each remedy named as this crate's config keys), the plots and the report, and
//! localizing a divergence by replaying the steps before it with every layer tapped.

use crate::run_dir::{RunDir, DIAGNOSTICS};
use burn::tensor::Tensor;
use makemore_diagnostics::record::best_rescaled_loss;
use makemore_diagnostics::{
    advise, param_record, render_plots, window_means, write_report, Advice, AdviceConfig,
    DiagnosticRecord, LayerRecord, Recorder, Remedy, StatsConfig,
};
use makemore_model::host::to_host;
use makemore_model::trainer::Trainer;
use makemore_model::RunError;
use std::path::PathBuf;

/// What the diagnostics of a run found.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// One record per recorded step.
    pub records: Vec<DiagnosticRecord>,
    /// The advice (empty when nothing looks wrong).
    pub advice: Vec<Advice>,
    /// `report.html`, when a run directory was written.
    pub report: Option<PathBuf>,
}

/// Records diagnostics on chosen steps of a run.
pub(crate) struct Recording {
    /// Record every this many steps (and the last step).
    pub every: u64,
    /// The run's steps.
    pub total: u64,
    /// Resolution and thresholds of the statistics.
    pub stats: StatsConfig,
    /// The records so far.
    pub records: Vec<DiagnosticRecord>,
    /// The records as `diagnostics.jsonl` text, a line each.
    pub jsonl: String,
    /// Vocabulary size (for the expected first loss).
    pub vocab: usize,
}

impl Recording {
    /// Whether `step` is recorded.
    pub fn wants(&self, step: u64) -> bool {
        step.is_multiple_of(self.every) || step + 1 == self.total
    }

    /// Takes the trainer's next step with every layer tapped, and records it.
    pub fn record(&mut self, trainer: &mut Trainer) -> Tensor<1> {
        let step = trainer.step;
        let mut rec = Recorder::new(true);
        let ins = trainer.step_tapped(&mut rec, true);
        let layers = rec.finish(Some(&ins.grads), &self.stats);
        let params = ins
            .updates
            .into_iter()
            .map(|u| {
                param_record(
                    &u.path,
                    &u.shape,
                    &to_host(u.data),
                    &to_host(u.grad),
                    &to_host(u.delta),
                    &self.stats,
                )
            })
            .collect();
        let loss = f64::from(to_host(ins.loss.clone())[0]);
        let (expected_loss, rescaled_loss) = if step == 0 {
            let targets: Vec<u32> = to_host(ins.targets.float())
                .iter()
                .map(|&t| t as u32)
                .collect();
            let logits = to_host(ins.logits);
            (
                Some((self.vocab as f64).ln()),
                Some(best_rescaled_loss(&logits, &targets, self.vocab)),
            )
        } else {
            (None, None)
        };
        let record = DiagnosticRecord {
            step,
            loss,
            lr: ins.lr,
            layers,
            params,
            expected_loss,
            rescaled_loss,
            saturation_threshold: Some(self.stats.saturation_threshold),
        };
        let line = serde_json::to_string(&record).expect("a diagnostic record serializes");
        self.jsonl.push_str(&line);
        self.jsonl.push('\n');
        self.records.push(record);
        ins.loss
    }
}

/// One diagnostic look at a model without touching its run: a throwaway trainer for `cfg` on
/// `ds`, fresh (step 0, the run's initial weights and first batch) or where the checkpoint
/// `from` left off, takes one step with every layer tapped; its record is returned.
///
/// `makemore lecture --out` uses it for the pictures before and after training, so that the
/// runs themselves train exactly as without pictures.
pub fn probe(
    cfg: &makemore_model::RunConfig,
    ds: &makemore_model::Dataset,
    device: &makemore_model::Device,
    from: Option<&crate::Checkpoint>,
) -> Result<DiagnosticRecord, RunError> {
    let state = from.map(|c| c.state(std::path::Path::new(crate::run_dir::CHECKPOINT)));
    let mut trainer = Trainer::start(cfg, ds, device, state)?;
    let mut rec = Recording {
        every: 1,
        total: cfg.train.steps,
        stats: StatsConfig {
            saturation_threshold: cfg.log.saturation_threshold as f32,
            ..StatsConfig::default()
        },
        records: Vec::new(),
        jsonl: String::new(),
        vocab: ds.vocab.len(),
    };
    rec.record(&mut trainer);
    rec.records
        .pop()
        .ok_or_else(|| RunError::Report("a probe recorded nothing".into()))
}

/// The config keys that carry out a remedy.
pub fn config_hint(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::ScaleDownOutput => "init.output scale = 0.01, init.output_bias = zeros",
        Remedy::ScaleDownHidden => "init.hidden scale, or model.norm",
        Remedy::UseActivationGain => {
            "init.hidden = kaiming_normal with gain = \"auto\", or model.norm"
        }
        Remedy::RaiseLearningRate | Remedy::LowerLearningRate => "train.lr",
    }
}

/// Replays the steps from `snapshot` up to `step` and names the first layer whose output (in
/// forward order) or output gradient (from the loss backwards) is not finite.
pub(crate) fn localize_divergence(mut snapshot: Trainer, step: u64) -> String {
    while snapshot.step < step {
        snapshot.step();
    }
    let mut rec = Recorder::new(true);
    let ins = snapshot.step_tapped(&mut rec, false);
    let layers = rec.finish(Some(&ins.grads), &StatsConfig::default());
    if let Some(l) = layers.iter().find(|l| !l.output.summary.is_finite()) {
        return format!("the output of {}", l.name);
    }
    if let Some(l) = layers
        .iter()
        .rev()
        .find(|l| l.grad.as_ref().is_some_and(|g| !g.is_finite()))
    {
        return format!("the gradient at {}", l.name);
    }
    let magnitude = |l: &LayerRecord| l.output.summary.min.abs().max(l.output.summary.max.abs());
    match layers.iter().max_by(|a, b| magnitude(a).total_cmp(&magnitude(b))) {
        Some(l) => format!(
            "none yet (every output and gradient is finite; the largest outputs are at {}, |x| up to {:.3e})",
            l.name,
            magnitude(l)
        ),
        None => "none yet".into(),
    }
}

/// Advice, and with a run directory `diagnostics.jsonl`, the plots and `report.html`.
/// The advice on a run's records (step 0's and the last), each message ending with the config
/// keys that carry out its remedy.
pub fn advice_of(records: &[DiagnosticRecord]) -> Vec<Advice> {
    let mut advice = match records.last() {
        Some(last) => advise(
            records.iter().find(|r| r.step == 0),
            last,
            &AdviceConfig::default(),
        ),
        None => Vec::new(),
    };
    for a in &mut advice {
        a.message = format!("{} ({})", a.message, config_hint(a.remedy));
    }
    advice
}

pub(crate) fn finish_diagnosis(
    records: Vec<DiagnosticRecord>,
    jsonl: &str,
    losses: &[f32],
    dir: Option<&RunDir>,
    steps: u64,
) -> Result<Diagnosis, RunError> {
    let advice = advice_of(&records);
    let mut report = None;
    if let Some(run) = dir {
        run.write(DIAGNOSTICS, jsonl.as_bytes())?;
        let d = run.path();
        // The lecture averages the loss over windows of 1,000 steps; short runs get 20 windows.
        let window = (steps as usize / 20).clamp(1, 1_000);
        let plots = render_plots(d, &records, &window_means(losses, window))
            .map_err(|e| RunError::Report(e.to_string()))?;
        let title = format!("makemore diagnostics: {}", d.display());
        report = Some(
            write_report(d, &title, &records, &plots, &advice)
                .map_err(|e| RunError::Report(e.to_string()))?,
        );
    }
    Ok(Diagnosis {
        records,
        advice,
        report,
    })
}
