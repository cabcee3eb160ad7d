//! Memory a command will need, estimated from the config and the corpus before anything is
//! allocated, and the limit it must fit under (`--max-memory`, else the least of what the system
//! allows: the memory it has available, what the process's ulimits leave, and what its cgroup
//! leaves). Estimates are deliberately rough (within a small factor) and use 128-bit
//! arithmetic, so no user's number can overflow them.

use crate::config::{Norm, RunConfig};
pub use crate::error::LimitOrigin;
use crate::error::RunError;
use std::path::{Path, PathBuf};

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
/// A cgroup v1 memory limit at or above this (1 EiB) means "no limit": the kernel writes
/// `9223372036854771712` (the largest page count in bytes) for an unlimited group.
const CGROUP_V1_UNLIMITED: u64 = 1 << 60;

/// The most memory a command may use, and where that number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes.
    pub limit: u64,
    /// Where it came from: the user (`--max-memory`) or one of the system's limits.
    pub origin: LimitOrigin,
}

impl Budget {
    /// `max` when given, else what the system allows ([`Budget::system`]).
    pub fn new(max: Option<u64>) -> Self {
        match max {
            Some(limit) => Self {
                limit,
                origin: LimitOrigin::Flag,
            },
            None => Self::system(),
        }
    }

    /// The least of what the system allows now, read from the real files (Linux; elsewhere,
    /// no limit): `MemAvailable`, the address-space and data-segment ulimits less what the
    /// process already uses of each, and the headroom of the process's cgroup (v2 and v1, the
    /// tightest of its ancestors).
    pub fn system() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let meminfo = read("/proc/meminfo");
        let status = read("/proc/self/status");
        let status = status.as_deref().unwrap_or("");
        let (rlimit_as, rlimit_data) = rlimits();
        let (v2, v1) = match (read("/proc/self/cgroup"), read("/proc/self/mountinfo")) {
            (Some(cgroup), mountinfo) => cgroup_headrooms(&cgroup, mountinfo.as_deref()),
            (None, _) => (None, None),
        };
        lowest([
            (
                meminfo.as_deref().and_then(mem_available),
                LimitOrigin::Available,
            ),
            (
                rlimit_headroom(rlimit_as, status_bytes(status, "VmRSS")),
                LimitOrigin::AddressSpace,
            ),
            (
                rlimit_headroom(rlimit_data, status_bytes(status, "VmRSS")),
                LimitOrigin::DataSegment,
            ),
            (v2, LimitOrigin::CgroupV2),
            (v1, LimitOrigin::CgroupV1),
        ])
    }

    /// Each one's share when `jobs` trainings run side by side.
    pub fn shared(self, jobs: usize) -> Self {
        Self {
            limit: self.limit / jobs.max(1) as u64,
            ..self
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
            origin: self.origin,
        })
    }
}

/// The lowest of the limits that are known (the first of equals), or no limit
/// ([`LimitOrigin::Unknown`], `u64::MAX`) when none is.
pub fn lowest(candidates: impl IntoIterator<Item = (Option<u64>, LimitOrigin)>) -> Budget {
    candidates
        .into_iter()
        .filter_map(|(limit, origin)| limit.map(|limit| Budget { limit, origin }))
        .reduce(|a, b| if b.limit < a.limit { b } else { a })
        .unwrap_or(Budget {
            limit: u64::MAX,
            origin: LimitOrigin::Unknown,
        })
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn available_memory() -> Option<u64> {
    mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// `MemAvailable` from the text of `/proc/meminfo`, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemAvailable")
}

/// A `kB` field (`VmSize`, `VmData`) from the text of `/proc/self/status`, in bytes.
pub fn status_bytes(status: &str, key: &str) -> Option<u64> {
    kib_field(status, key)
}

/// `KEY:   123 kB` in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.split(':').next().is_some_and(|k| k == key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// What a resource limit (`None`: unlimited) leaves when `used` (`None`: not known, taken as
/// nothing) is already taken.
pub fn rlimit_headroom(limit: Option<u64>, used: Option<u64>) -> Option<u64> {
    limit.map(|l| {
        l.saturating_sub(used.unwrap_or(0))
            .saturating_sub(PROCESS_RESERVE)
    })
}

/// Memory the program takes beside what the estimates count (threads, the allocator's and the
/// backend's structures), taken off an address-space or data limit with the resident size (the
/// allocator reserves address space up to any limit, and allocates from it). The default model
/// (49 MB by the estimate, flex build) aborts under `ulimit -v 75000`, and now and then up to
/// 140000 (in evaluation); with this reserve it is refused below 160000 (25 of 25 trained there).
const PROCESS_RESERVE: u64 = 96 << 20;

/// The soft `RLIMIT_AS` and `RLIMIT_DATA` of this process (`None`: unlimited or not known).
#[cfg(unix)]
fn rlimits() -> (Option<u64>, Option<u64>) {
    /// The soft limit `get` (a `getrlimit` call) reads.
    fn soft(get: impl FnOnce(&mut libc::rlimit) -> libc::c_int) -> Option<u64> {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let ok = get(&mut r) == 0 && r.rlim_cur != libc::RLIM_INFINITY;
        // `rlim_t` is 32 bits on some targets.
        #[allow(clippy::unnecessary_cast)]
        let cur = r.rlim_cur as u64;
        ok.then_some(cur)
    }
    // SAFETY: `getrlimit` only writes the limits into `r`, a valid `rlimit`.
    let limit_as = soft(|r| unsafe { libc::getrlimit(libc::RLIMIT_AS, r) });
    // SAFETY: as above.
    let limit_data = soft(|r| unsafe { libc::getrlimit(libc::RLIMIT_DATA, r) });
    (limit_as, limit_data)
}

/// Without ulimits to read: none.
#[cfg(not(unix))]
fn rlimits() -> (Option<u64>, Option<u64>) {
    (None, None)
}

/// Where a cgroup hierarchy is mounted: the cgroup path shown at the mount's `root`, and the
/// directory it is mounted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// The cgroup path (as `/proc/self/cgroup` writes it) at the mount point, usually `/`.
    pub root: PathBuf,
    /// The directory, e.g. `/sys/fs/cgroup` (v2) or `/sys/fs/cgroup/memory` (v1).
    pub point: PathBuf,
}

/// The cgroup v2 mount and the v1 `memory` controller's mount, from the text of
/// `/proc/self/mountinfo` (`ID PARENT DEV ROOT POINT OPTIONS [TAGS] - TYPE SOURCE SUPEROPTS`).
pub fn cgroup_mounts(mountinfo: &str) -> (Option<CgroupMount>, Option<CgroupMount>) {
    let (mut v2, mut v1) = (None, None);
    for line in mountinfo.lines() {
        let Some((mount, fs)) = line.split_once(" - ") else {
            continue;
        };
        let mount: Vec<&str> = mount.split(' ').collect();
        let fs: Vec<&str> = fs.split(' ').collect();
        let (Some(root), Some(point), Some(kind)) = (mount.get(3), mount.get(4), fs.first()) else {
            continue;
        };
        let found = CgroupMount {
            root: PathBuf::from(unescape(root)),
            point: PathBuf::from(unescape(point)),
        };
        match *kind {
            "cgroup2" if v2.is_none() => v2 = Some(found),
            "cgroup"
                if v1.is_none()
                    && fs
                        .get(2)
                        .is_some_and(|o| o.split(',').any(|o| o == "memory")) =>
            {
                v1 = Some(found)
            }
            _ => {}
        }
    }
    (v2, v1)
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], code) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The process's cgroup v2 path (the `0::PATH` line) and its v1 `memory` controller's path
/// (`N:...,memory,...:PATH`), from the text of `/proc/self/cgroup`.
pub fn cgroup_paths(proc_cgroup: &str) -> (Option<String>, Option<String>) {
    let (mut v2, mut v1) = (None, None);
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path.to_string());
        }
    }
    (v2, v1)
}

/// The directory of cgroup `path` under `mount`, or `None` when the group is outside what the
/// mount shows.
pub fn cgroup_dir(mount: &CgroupMount, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path).strip_prefix(&mount.root).ok()?;
    Some(mount.point.join(rel))
}

/// Which cgroup interface a directory speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// `memory.max`, `memory.current`, `inactive_file` in `memory.stat`.
    V2,
    /// `memory.limit_in_bytes`, `memory.usage_in_bytes`, `total_inactive_file` in `memory.stat`.
    V1,
}

/// What one cgroup's limit leaves, from the texts of its files (`limit`: `memory.max` or
/// `memory.limit_in_bytes`; `usage`: `memory.current` or `memory.usage_in_bytes`; `stat`:
/// `memory.stat`); `None` when the group has no limit ("max", or v1's huge sentinel). The usage
/// counts the group's page cache, which the kernel reclaims before it refuses memory, so the
/// inactive part of it (`inactive_file`) is not counted as used.
pub fn cgroup_headroom(
    version: CgroupVersion,
    limit: &str,
    usage: Option<&str>,
    stat: Option<&str>,
) -> Option<u64> {
    let limit = limit.trim();
    let limit: u64 = match version {
        CgroupVersion::V2 if limit == "max" => return None,
        CgroupVersion::V2 => limit.parse().ok()?,
        CgroupVersion::V1 => limit.parse().ok().filter(|&l| l < CGROUP_V1_UNLIMITED)?,
    };
    let usage: u64 = usage.and_then(|u| u.trim().parse().ok()).unwrap_or(0);
    let keys: &[&str] = match version {
        CgroupVersion::V2 => &["inactive_file"],
        CgroupVersion::V1 => &["total_inactive_file", "inactive_file"],
    };
    let inactive = stat
        .and_then(|s| keys.iter().find_map(|k| stat_field(s, k)))
        .unwrap_or(0);
    Some(limit.saturating_sub(usage.saturating_sub(inactive)))
}

/// `KEY N` from the text of a `memory.stat`.
fn stat_field(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The least headroom of the cgroup at `leaf` and its ancestors up to `top` (the mount point),
/// reading their files; `None` when none of them has a limit.
pub fn cgroup_tree_headroom(version: CgroupVersion, leaf: &Path, top: &Path) -> Option<u64> {
    let (limit, usage) = match version {
        CgroupVersion::V2 => ("memory.max", "memory.current"),
        CgroupVersion::V1 => ("memory.limit_in_bytes", "memory.usage_in_bytes"),
    };
    let read = |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let mut least: Option<u64> = None;
    for dir in leaf.ancestors() {
        if !dir.starts_with(top) {
            break;
        }
        if let Some(l) = read(dir, limit) {
            let h = cgroup_headroom(
                version,
                &l,
                read(dir, usage).as_deref(),
                read(dir, "memory.stat").as_deref(),
            );
            least = match (least, h) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    least
}

/// The headroom of the process's cgroups, (v2, v1), from the texts of `/proc/self/cgroup` and
/// `/proc/self/mountinfo` (without it, the usual mounts: `/sys/fs/cgroup` for v2 and
/// `/sys/fs/cgroup/memory` for v1).
pub fn cgroup_headrooms(proc_cgroup: &str, mountinfo: Option<&str>) -> (Option<u64>, Option<u64>) {
    let (v2_path, v1_path) = cgroup_paths(proc_cgroup);
    let (v2_mount, v1_mount) = match mountinfo {
        Some(m) => cgroup_mounts(m),
        None => (
            Some(CgroupMount {
                root: "/".into(),
                point: "/sys/fs/cgroup".into(),
            }),
            Some(CgroupMount {
                root: "/".into(),
                point: "/sys/fs/cgroup/memory".into(),
            }),
        ),
    };
    let headroom = |version, mount: Option<CgroupMount>, path: Option<String>| {
        let mount = mount?;
        let dir = cgroup_dir(&mount, &path?)?;
        cgroup_tree_headroom(version, &dir, &mount.point)
    };
    (
        headroom(CgroupVersion::V2, v2_mount, v2_path),
        headroom(CgroupVersion::V1, v1_mount, v1_path),
    )
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
            .checked_add((m.block_size as u128).checked_mul(8)?)
    });
    // The characters each item may grow to, charged to the length limit so that a refusal names
    // the number that is too large.
    let text = mul(&[n as u128, max_len as u128, F32]);
    vec![
        (
            field.to_string(),
            per_item.and_then(|p| p.checked_mul(n as u128)),
        ),
        ("--max-len".to_string(), text),
    ]
}

/// What recalibrating the BatchNorm statistics of a run of `cfg` costs: one forward pass over
/// all `windows` of the training split at once, about two floats per unit and window (measured:
/// 360 MB of resident memory for the default model on names.txt's 182,580 windows).
pub fn calibration_needs(
    cfg: &RunConfig,
    vocab: usize,
    windows: usize,
) -> Vec<(String, Option<u128>)> {
    let m = &cfg.model;
    let units = sum(&m
        .hidden
        .iter()
        .map(|&w| Some(w as u128))
        .chain([
            (m.n_embd as u128).checked_mul(m.block_size as u128),
            Some(vocab as u128),
        ])
        .collect::<Vec<_>>());
    let cost = units.and_then(|u| mul(&[windows as u128, u, F32 * 2]));
    vec![("--calibrate".to_string(), cost)]
}

/// What evaluating or sampling a saved run of `cfg` costs: its parameters read back, `windows`
/// context windows, and an evaluation chunk's activations (the training parts left out).
pub fn evaluation_needs(
    cfg: &RunConfig,
    vocab: usize,
    windows: usize,
) -> Vec<(String, Option<u128>)> {
    const TRAINING_ONLY: [&str; 3] = ["train.batch_size", "train.log_every", "train.steps"];
    training_needs(cfg, vocab, windows)
        .into_iter()
        .filter(|(f, _)| !TRAINING_ONLY.contains(&f.as_str()))
        .collect()
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

    /// A directory tree for one test, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("makemore-budget-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Tree(p)
        }

        /// Writes `files` (name, text) into the group at `rel` (created).
        fn group(&self, rel: &str, files: &[(&str, &str)]) -> PathBuf {
            let dir = self.0.join(rel);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(name), text).unwrap();
            }
            dir
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn total(parts: &[(String, Option<u128>)]) -> Option<u128> {
        sum(&parts.iter().map(|p| p.1).collect::<Vec<_>>())
    }

    #[test]
    fn two_hidden_layers_of_20000_need_more_than_a_3_gb_ulimit() {
        let mut cfg = lecture();
        cfg.model.hidden = vec![20_000, 20_000];
        let parts = training_needs(&cfg, 27, 228_146);
        // `ulimit -v 3000000` is 3,000,000 KiB; the 20000 x 20000 weight alone is 1.6 GB, and
        // its value and gradient together already exceed it.
        let limit: u64 = 3_000_000 * 1024;
        assert!(total(&parts).is_some_and(|t| t > 2 * 1_600_000_000 && t > u128::from(limit)));
        let err = Budget {
            limit,
            origin: LimitOrigin::AddressSpace,
        }
        .check(&parts)
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("model.hidden[1]: "), "{text}");
        assert!(
            text.ends_with(
                "more than the 3.1 GB left under the process's address-space limit (ulimit -v)"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_refusal_names_where_the_limit_came_from() {
        let parts = vec![("x".to_string(), Some(2000))];
        let words = [
            (LimitOrigin::Flag, "1.0 KB allowed"),
            (LimitOrigin::Available, "available memory (MemAvailable)"),
            (LimitOrigin::AddressSpace, "address-space limit (ulimit -v)"),
            (LimitOrigin::DataSegment, "data-segment limit (ulimit -d)"),
            (LimitOrigin::CgroupV2, "the cgroup's memory.max"),
            (LimitOrigin::CgroupV1, "the cgroup's memory.limit_in_bytes"),
        ];
        for (origin, fragment) in words {
            let err = Budget {
                limit: 1000,
                origin,
            }
            .check(&parts)
            .unwrap_err()
            .to_string();
            assert!(err.contains(fragment), "{origin:?}: {err}");
        }
    }

    #[test]
    fn the_lowest_known_limit_wins() {
        let b = lowest([
            (Some(24_000_000_000), LimitOrigin::Available),
            (Some(2_900_000_000), LimitOrigin::AddressSpace),
            (None, LimitOrigin::DataSegment),
            (Some(5_000_000_000), LimitOrigin::CgroupV2),
            (Some(3_000_000_000), LimitOrigin::CgroupV1),
        ]);
        assert_eq!(
            b,
            Budget {
                limit: 2_900_000_000,
                origin: LimitOrigin::AddressSpace
            }
        );
        let b = lowest([
            (Some(8), LimitOrigin::Available),
            (Some(7), LimitOrigin::CgroupV2),
        ]);
        assert_eq!(b.origin, LimitOrigin::CgroupV2);
        let none = lowest([
            (None, LimitOrigin::Available),
            (None, LimitOrigin::CgroupV1),
        ]);
        assert_eq!(
            none,
            Budget {
                limit: u64::MAX,
                origin: LimitOrigin::Unknown
            }
        );
    }

    #[test]
    fn status_and_meminfo_fields_are_read_in_bytes() {
        let status = "Name:\tmakemore\nVmPeak:\t  999999 kB\nVmSize:\t  204800 kB\nVmLck:\t       0 kB\nVmData:\t   51200 kB\nVmStk:\t     132 kB\n";
        assert_eq!(status_bytes(status, "VmSize"), Some(204_800 * 1024));
        assert_eq!(status_bytes(status, "VmData"), Some(51_200 * 1024));
        assert_eq!(status_bytes(status, "VmSwap"), None);
        assert_eq!(status_bytes("VmSize:\tlots kB\n", "VmSize"), None);
        let meminfo = "MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   23923704 kB\n";
        assert_eq!(mem_available(meminfo), Some(23_923_704 * 1024));
        // `ulimit -v 3000000` with 200 MiB mapped leaves the rest but the process's own reserve;
        // unlimited leaves no limit.
        let size = status_bytes(status, "VmSize");
        assert_eq!(
            rlimit_headroom(Some(3_072_000_000), size),
            Some(3_072_000_000 - 204_800 * 1024 - PROCESS_RESERVE)
        );
        assert_eq!(rlimit_headroom(Some(100), Some(200)), Some(0));
        assert_eq!(rlimit_headroom(None, size), None);
    }

    #[test]
    fn proc_self_cgroup_names_the_v2_and_the_v1_memory_groups() {
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/9447\n3:cpuset:/\n1:cpu,cpuacct:/x\n0::/user.slice/a.scope\n";
        assert_eq!(
            cgroup_paths(hybrid),
            (
                Some("/user.slice/a.scope".to_string()),
                Some("/process_api/9447".to_string())
            )
        );
        assert_eq!(cgroup_paths("0::/\n"), (Some("/".to_string()), None));
        assert_eq!(
            cgroup_paths("5:cpu,memory:/g\n"),
            (None, Some("/g".to_string()))
        );
    }

    #[test]
    fn mountinfo_finds_the_cgroup_mounts_and_their_roots() {
        let hybrid = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let (v2, v1) = cgroup_mounts(hybrid);
        assert_eq!(v2.unwrap().point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(v1.unwrap().point, Path::new("/sys/fs/cgroup/memory"));
        // A container without its own cgroup namespace sees its group as the mount's root.
        let docker = "700 690 0:26 /docker/abc /sys/fs/cgroup ro,nosuid master:9 - cgroup2 cgroup rw,nsdelegate\n";
        let (v2, v1) = cgroup_mounts(docker);
        let v2 = v2.unwrap();
        assert_eq!(v1, None);
        assert_eq!(v2.root, Path::new("/docker/abc"));
        assert_eq!(
            cgroup_dir(&v2, "/docker/abc/job"),
            Some(PathBuf::from("/sys/fs/cgroup/job"))
        );
        assert_eq!(
            cgroup_dir(&v2, "/docker/abc"),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(cgroup_dir(&v2, "/elsewhere"), None);
        let spaced = "1 0 0:1 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(
            cgroup_mounts(spaced).0.unwrap().point,
            Path::new("/mnt/my cg")
        );
        assert_eq!(cgroup_mounts("garbage\n\n"), (None, None));
    }

    #[test]
    fn a_cgroup_limit_leaves_its_limit_less_what_cannot_be_reclaimed() {
        use CgroupVersion::{V1, V2};
        assert_eq!(cgroup_headroom(V2, "max\n", Some("5000\n"), None), None);
        assert_eq!(
            cgroup_headroom(
                V2,
                "10000\n",
                Some("4000\n"),
                Some("anon 3000\ninactive_file 1000\nactive_file 0\n")
            ),
            Some(7000)
        );
        assert_eq!(
            cgroup_headroom(V2, "10000\n", Some("12000\n"), None),
            Some(0)
        );
        assert_eq!(cgroup_headroom(V2, "garbage", Some("1"), None), None);
        // v1 writes a huge number for "no limit".
        assert_eq!(
            cgroup_headroom(V1, "9223372036854771712\n", Some("3393093632\n"), None),
            None
        );
        assert_eq!(
            cgroup_headroom(
                V1,
                "2000000000\n",
                Some("1500000000\n"),
                Some("cache 600000000\ninactive_file 1\ntotal_inactive_file 500000000\n")
            ),
            Some(1_000_000_000)
        );
    }

    #[test]
    fn nested_v2_groups_give_the_tightest_ancestor() {
        let t = Tree::new("v2");
        // The root group has no memory.max; `a` is unlimited, `a/b` leaves 2 GB, `a/b/c` is
        // limited at 6 GB (more than its parent allows).
        t.group("", &[("memory.current", "9000000000\n")]);
        t.group(
            "a",
            &[("memory.max", "max\n"), ("memory.current", "3000000000\n")],
        );
        t.group(
            "a/b",
            &[
                ("memory.max", "4000000000\n"),
                ("memory.current", "2500000000\n"),
                ("memory.stat", "anon 2000000000\ninactive_file 500000000\n"),
            ],
        );
        t.group(
            "a/b/c",
            &[
                ("memory.max", "6000000000\n"),
                ("memory.current", "1000000000\n"),
            ],
        );
        t.group(
            "free/d",
            &[("memory.max", "max\n"), ("memory.current", "1\n")],
        );
        let leaf = t.0.join("a/b/c");
        assert_eq!(
            cgroup_tree_headroom(CgroupVersion::V2, &leaf, &t.0),
            Some(2_000_000_000)
        );
        assert_eq!(
            cgroup_tree_headroom(CgroupVersion::V2, &t.0.join("free/d"), &t.0),
            None
        );
        // From the process's files: the mount at the temporary tree, the group `/a/b/c`.
        let mountinfo = format!("41 31 0:38 / {} rw - cgroup2 cgroup2 rw\n", t.0.display());
        assert_eq!(
            cgroup_headrooms("0::/a/b/c\n", Some(&mountinfo)),
            (Some(2_000_000_000), None)
        );
        assert_eq!(
            cgroup_headrooms("0::/free/d\n", Some(&mountinfo)),
            (None, None)
        );
    }

    #[test]
    fn nested_v1_groups_ignore_the_unlimited_sentinel() {
        let t = Tree::new("v1");
        let unlimited = "9223372036854771712\n";
        t.group(
            "",
            &[
                ("memory.limit_in_bytes", unlimited),
                ("memory.usage_in_bytes", "3813814272\n"),
            ],
        );
        t.group(
            "jobs",
            &[
                ("memory.limit_in_bytes", "8000000000\n"),
                ("memory.usage_in_bytes", "7000000000\n"),
            ],
        );
        t.group(
            "jobs/x",
            &[
                ("memory.limit_in_bytes", unlimited),
                ("memory.usage_in_bytes", "2707456\n"),
            ],
        );
        t.group(
            "open/y",
            &[
                ("memory.limit_in_bytes", unlimited),
                ("memory.usage_in_bytes", "1\n"),
            ],
        );
        let mountinfo = format!(
            "35 31 0:32 / {} rw,relatime - cgroup cgroup rw,memory\n",
            t.0.display()
        );
        assert_eq!(
            cgroup_headrooms("4:memory:/jobs/x\n0::/\n", Some(&mountinfo)),
            (None, Some(1_000_000_000))
        );
        assert_eq!(
            cgroup_headrooms("4:memory:/open/y\n", Some(&mountinfo)),
            (None, None)
        );
    }

    #[test]
    fn the_system_budget_is_no_more_than_the_available_memory() {
        // MemAvailable moves while other tests allocate and free (CI once saw it drop 237 kB
        // between the two reads), so the budget is compared with the larger of two readings
        // taken around it, and a miss is tried again: a budget that ignored MemAvailable would
        // miss every time.
        const TRIES: usize = 5;
        let misses: Vec<String> = (0..TRIES)
            .map_while(|_| {
                let before = available_memory();
                let b = Budget::new(None);
                let after = available_memory();
                assert_ne!(b.origin, LimitOrigin::Flag);
                let available = before.max(after)?;
                (b.limit > available).then(|| format!("{b:?} > {available}"))
            })
            .collect();
        assert!(misses.len() < TRIES, "{misses:?}");
        assert_eq!(
            Budget::new(Some(5)),
            Budget {
                limit: 5,
                origin: LimitOrigin::Flag
            }
        );
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
