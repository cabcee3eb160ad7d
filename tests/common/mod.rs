//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The names corpus: `MAKEMORE_DATA`, else `../shared/data/names.txt` beside the repository.
pub fn corpus() -> PathBuf {
    let p = std::env::var_os("MAKEMORE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/data/names.txt"));
    assert!(
        p.is_file(),
        "the corpus {} is missing: set MAKEMORE_DATA",
        p.display()
    );
    p
}

/// Runs the binary from the repository root with a clean environment for its own variables.
pub fn makemore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(args)
        .current_dir(repo())
        .env_remove("MAKEMORE_DATA")
        .env_remove("MAKEMORE_BACKEND")
        .output()
        .expect("the binary runs")
}

/// Asserts success and one JSON object on stdout, and returns it.
pub fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim().lines().count(),
        1,
        "stdout must be one JSON object: {text}"
    );
    serde_json::from_str(&text).expect("stdout is JSON")
}

/// Asserts exit status 2, one `error: ...` line on stderr containing every fragment, no panic,
/// nothing on stdout.
pub fn check_input_error(case: &str, out: &Output, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{case}: exit status; stderr: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{case}: one line on stderr, got: {err}");
    assert!(lines[0].starts_with("error: "), "{case}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{case}: {err}"
    );
    for f in fragments {
        assert!(err.contains(f), "{case}: stderr {err:?} lacks {f:?}");
    }
    assert!(
        out.stdout.is_empty(),
        "{case}: nothing on stdout after an error"
    );
}

/// [`check_input_error`] without a case name.
pub fn assert_input_error(out: &Output, fragments: &[&str]) {
    check_input_error("", out, fragments)
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory for one test.
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("makemore-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    /// Writes a file and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }

    /// A path inside (not created).
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a JSON number is within `tol` of `b`.
pub fn near(a: &Value, b: f64, tol: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() <= tol)
}

/// Opens `page` in headless Chromium (Debian's `chromium`, which `.ci/run` installs) and returns
/// the DOM after load and the browser's log; fails saying how to install it when it is missing.
pub fn headless_dom(page: &Path, profile: &str) -> (String, String) {
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("headless Chromium is needed for this test: apt-get install chromium (.ci/run installs it)");
    let page = page.canonicalize().expect("the page exists");
    let result = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={profile}"),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium runs");
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    (
        String::from_utf8_lossy(&result.stdout).into_owned(),
        String::from_utf8_lossy(&result.stderr).into_owned(),
    )
}

/// [`headless_dom`] on a copy of `page` (beside it, as `NAME.checked.html`) with scripts added:
/// one first, that notes every uncaught script error on `<html data-errors>`, then `extra` (a
/// test's own script, run after the page's), and one last, that after load says on
/// `<body data-images>` how many images loaded and how many did not (`"12 loaded, 0 broken"`).
pub fn headless_checked(page: &Path, profile: &str, extra: &str) -> (String, String) {
    let html = std::fs::read_to_string(page).unwrap();
    let catch = "<script>window.addEventListener('error',function(e){var d=document.documentElement;d.setAttribute('data-errors',(d.getAttribute('data-errors')||'')+e.message+';')});</script>";
    let check = "<script>window.addEventListener('load',function(){var ok=0,bad=0;Array.prototype.forEach.call(document.images,function(i){if(i.complete&&i.naturalWidth>0){ok++}else{bad++}});document.body.setAttribute('data-images',ok+' loaded, '+bad+' broken')});</script>";
    assert!(html.contains("<head>") && html.contains("</body>"));
    let html = html
        .replacen("<head>", &format!("<head>{catch}"), 1)
        .replacen(
            "</body>",
            &format!("<script>{extra}</script>{check}</body>"),
            1,
        );
    let copy = page.with_extension("checked.html");
    std::fs::write(&copy, html).unwrap();
    let out = headless_dom(&copy, profile);
    assert!(
        !out.0.contains("data-errors=\""),
        "script errors: {}",
        out.0
    );
    out
}

/// The images a page loaded, from [`headless_checked`]'s note; fails when one did not.
pub fn loaded_images(dom: &str) -> usize {
    let at = dom
        .find("data-images=\"")
        .expect("the checker ran after load")
        + 13;
    let note = &dom[at..at + dom[at..].find('"').unwrap()];
    let (ok, bad) = note.split_once(" loaded, ").unwrap();
    assert_eq!(bad, "0 broken", "{note}");
    ok.parse().unwrap()
}

/// The most points any `<polyline>` of `svg` has: a drawn curve has many, axes and legend
/// samples two.
pub fn longest_polyline(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|p| {
            let at = p.find("points=\"")? + 8;
            Some(p[at..at + p[at..].find('"')?].split_whitespace().count())
        })
        .max()
        .unwrap_or(0)
}

/// A val loss no test's run reaches in its few hundred steps (the lecture's best, after 200,000
/// steps, is 2.10): below it, the loss is broken or the split leaks.
pub const VAL_FLOOR: f64 = 2.0;

/// The loss of a model that ignores its context and knows only how often each token comes next:
/// the entropy (nats) of the next-token distribution over every item of the corpus, the
/// end-of-item token included (2.8227 on names.txt). A model that learned anything from its
/// context scores below it; a broken embedding or context path does not.
pub fn unigram_loss() -> f64 {
    let text = std::fs::read_to_string(corpus()).expect("the corpus reads");
    let mut counts = std::collections::BTreeMap::<char, f64>::new();
    for item in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        for c in item.chars().chain(['.']) {
            *counts.entry(c).or_default() += 1.0;
        }
    }
    let n: f64 = counts.values().sum();
    counts.values().map(|c| -(c / n) * (c / n).ln()).sum()
}

/// The largest of PyTorch's val losses in a reference file of `docs/reference/` (JSON lines of
/// `pytorch_lecture.py --eval`, one per seed): a value PyTorch reaches at that step count.
pub fn pytorch_worst_val(file: &str) -> f64 {
    let path = repo().join("docs/reference").join(file);
    let text = std::fs::read_to_string(&path).expect("the reference file reads");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            v["val_loss"].as_f64().expect("a val loss")
        })
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Ctrl-C for a running `child`: waits until `ready` exists (at most two minutes; `None` waits
/// for nothing), `settle_ms` more, sends SIGINT, and returns its output and stderr after
/// asserting exit status 130.
pub fn ctrl_c(child: Child, ready: Option<&Path>, settle_ms: u64) -> (Output, String) {
    let start = std::time::Instant::now();
    while ready.is_some_and(|p| !p.exists()) && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(settle_ms));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{err}");
    (out, err)
}
