//! A sweep on a real Slurm: a single-node cluster from Debian's packages (`munged`,
//! `slurmctld`, `slurmd`, installed by `cargo xtask setup`), started here on 127.0.0.1 with a
//! configuration written here, and stopped by PID at the end whatever happens.
//!
//! The README's array script (read from the README, byte for byte what `sweep plan
//! --slurm-script` writes) is submitted with the `sbatch` line `sweep plan` prints; one running
//! task is requeued (`scontrol requeue`: SIGTERM, then the task runs again) and must resume its
//! cell from the checkpoint; one cell has a bad value and fails on its own; the collected rows
//! must equal, bit for bit, those of the same cells run one after another without Slurm.
//!
//! Needs root (slurmd runs jobs as their user) and the packages. Without them the test says so
//! and passes, except under `CI=true`, where a skipped check is a failure.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The programs the cluster needs.
const PROGRAMS: [&str; 7] = [
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scontrol",
    "sinfo",
];
/// How long the whole array may take before the test gives up.
const ARRAY_DEADLINE: Duration = Duration::from_secs(600);
/// Steps per cell: long enough (seconds) that a running task can be requeued mid-cell.
const STEPS: u64 = 30_000;

/// The sweep: 4 settings x 3 seeds = 12 cells; the `bad` setting's GroupNorm over 27 logits
/// cannot split them into 4 groups, which only the run finds (the plan does not know the corpus).
const SWEEP: &str = r#"
base = "fix-tanh"
seeds = [1, 2, 3]
steps = 30000

[[vary]]
name = "setting"
keys = ["init.hidden.scale", "model.output_norm"]
values = [[0.1, "none"], [0.2, "none"], [1.0, "none"], [0.2, { group_norm = { groups = 4 } }]]
labels = ["x0.1", "x0.2", "x1", "bad"]
"#;

/// Whether this machine can run the cluster; the reason when not.
fn unavailable() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return Some("not root (slurmd starts jobs as their user)".into());
    }
    let missing: Vec<&str> = PROGRAMS
        .iter()
        .copied()
        .filter(|p| {
            Command::new("sh")
                .args(["-c", &format!("command -v {p}")])
                .output()
                .map_or(true, |o| !o.status.success())
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "missing {} (cargo xtask setup installs slurmctld slurmd slurm-client munge)",
            missing.join(", ")
        )
    })
}

/// Two distinct free TCP ports on 127.0.0.1 (bound together, read, released).
fn two_free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    let (a, b) = (bind(), bind());
    let port = |l: &std::net::TcpListener| l.local_addr().expect("a bound address").port();
    (port(&a), port(&b))
}

/// The daemons, stopped by PID when dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    pid_files: Vec<PathBuf>,
}

impl Cluster {
    /// munged with a fresh key, slurmctld and slurmd on 127.0.0.1, one node with this
    /// machine's cores, one partition; returns once the node is idle.
    fn start(dir: &Path) -> Cluster {
        let munge = dir.join("munge");
        for d in ["munge", "state", "spool", "log"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let key_file = munge.join("munge.key");
        std::fs::write(&key_file, key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&munge, std::fs::Permissions::from_mode(0o711)).unwrap();
        let socket = munge.join("munge.socket");
        let mut cluster = Cluster {
            dir: dir.to_owned(),
            conf: dir.join("slurm.conf"),
            pid_files: vec![munge.join("munged.pid")],
        };
        let status = Command::new("munged")
            .arg("--force")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--key-file={}", key_file.display()))
            .arg(format!(
                "--log-file={}",
                dir.join("log/munged.log").display()
            ))
            .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
            .arg(format!("--seed-file={}", munge.join("seed").display()))
            .status()
            .unwrap();
        assert!(status.success(), "munged did not start");
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory_mb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb = m.lines().find(|l| l.starts_with("MemTotal:"))?;
                kb.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(1024, |kb| kb / 1024 / 2);
        let d = dir.display();
        let ports = two_free_ports();
        let conf = format!(
            "ClusterName=makemore-test\n\
             SlurmctldHost=localhost(127.0.0.1)\n\
             SlurmctldPort={ctld}\n\
             SlurmdPort={slurmd}\n\
             CommunicationParameters=NoCtldInAddrAny,NoInAddrAny\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             AuthInfo=socket={socket},cred_expire=10\n\
             CredType=cred/munge\n\
             StateSaveLocation={d}/state\n\
             SlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\n\
             SlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/log/slurmctld.log\n\
             SlurmdLogFile={d}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             MpiDefault=none\n\
             SchedulerType=sched/backfill\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\n\
             ReturnToService=2\n\
             JobRequeue=1\n\
             KillWait=10\n\
             MinJobAge=600\n\
             NodeName=node0 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN\n\
             PartitionName=test Nodes=node0 Default=YES MaxTime=INFINITE State=UP\n",
            ctld = ports.0,
            slurmd = ports.1,
            socket = socket.display(),
        );
        std::fs::write(&cluster.conf, conf).unwrap();
        cluster.pid_files.push(dir.join("slurmctld.pid"));
        let ok = Command::new("slurmctld")
            .arg("-f")
            .arg(&cluster.conf)
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "slurmctld did not start: {}",
            cluster.log("slurmctld")
        );
        cluster.pid_files.push(dir.join("slurmd.pid"));
        let ok = Command::new("slurmd")
            .arg("-f")
            .arg(&cluster.conf)
            .args(["-N", "node0"])
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "slurmd did not start: {}",
            cluster.log("slurmd")
        );
        let start = Instant::now();
        loop {
            let out = cluster.client("sinfo", &["-h", "-o", "%t"]);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "idle" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the node is not idle after 60 s ({state:?}): {}",
                cluster.log("slurmctld")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster
    }

    /// The tail of a daemon's log.
    fn log(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("log/{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// A Slurm client command against this cluster.
    fn client(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).output().unwrap()
    }

    /// A command with `SLURM_CONF` pointing at this cluster.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn pids(&self) -> Vec<i32> {
        self.pid_files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok()?.trim().parse().ok())
            .collect()
    }

    /// Stops every daemon (SIGTERM, then SIGKILL after 10 s); the PIDs still alive after that.
    fn stop(&mut self) -> Vec<i32> {
        if self.pid_files.is_empty() {
            return Vec::new();
        }
        // Jobs first, so that no task outlives its daemons.
        let _ = self.client("scancel", &["--user=root"]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            let q = self.client("squeue", &["-h"]);
            if !q.status.success() || q.stdout.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut pids = self.pids();
        // Their children too (slurmctld's slurmscriptd, slurmd's slurmstepd and the tasks).
        pids.extend(descendants(&pids));
        let alive = |pid: i32| Path::new(&format!("/proc/{pid}")).exists() && !zombie(pid);
        for &pid in pids.iter().rev() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let start = Instant::now();
        while pids.iter().any(|&p| alive(p)) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for &pid in pids.iter().filter(|&&p| alive(p)) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        std::thread::sleep(Duration::from_millis(200));
        self.pid_files.clear();
        pids.into_iter().filter(|&p| alive(p)).collect()
    }
}

/// Every process descended from `roots`, read from /proc.
fn descendants(roots: &[i32]) -> Vec<i32> {
    let parent = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
    };
    let all: Vec<i32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut found: Vec<i32> = Vec::new();
    loop {
        let more: Vec<i32> = all
            .iter()
            .copied()
            .filter(|&p| !found.contains(&p) && !roots.contains(&p))
            .filter(|&p| parent(p).is_some_and(|q| roots.contains(&q) || found.contains(&q)))
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

/// Whether `pid` is a zombie (exited, not yet reaped by its parent).
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].starts_with('Z')))
        .unwrap_or(false)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Slurm script in the README: the block under "The script, as `--slurm-script` writes it".
fn readme_script() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let marker = "The script, as `--slurm-script` writes it:\n\n```sh\n";
    let at = readme.find(marker).expect("the README's Slurm script") + marker.len();
    let end = readme[at..]
        .find("```\n")
        .expect("the end of the README's script");
    readme[at..at + end].to_string()
}

/// `makemore sweep collect DIR --json`, each cell's row without its wall-clock time.
fn collected(dir: &str) -> Value {
    let mut j = stdout_json(&makemore(&["sweep", "collect", dir, "--json"]));
    for row in j["cells"].as_array_mut().unwrap() {
        row.as_object_mut().unwrap().remove("seconds");
    }
    j
}

#[test]
fn a_sweep_runs_as_a_slurm_array_and_collects_the_same_rows() {
    if let Some(why) = unavailable() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Slurm test cannot run under CI: {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let t = TempDir::new("slurm");
    let data = corpus();
    let data = data.to_str().unwrap();
    let sweep_file = t.file("sweep.toml", SWEEP.as_bytes());
    let (slurm_dir, reference) = (t.path("on-slurm"), t.path("reference"));
    let script = t.path("cell.sh");

    // The plan, the script and the sbatch line.
    let plan = stdout_json(&makemore(&[
        "sweep",
        "plan",
        &sweep_file,
        "--out",
        &slurm_dir,
        "--data",
        data,
        "--slurm-script",
        &script,
        "--json",
    ]));
    assert_eq!(plan["cells"], 12);
    let written = std::fs::read_to_string(&script).unwrap();
    assert_eq!(
        written,
        readme_script(),
        "the README's script is not what --slurm-script writes"
    );
    let sbatch: Vec<String> = plan["sbatch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(sbatch[..2], ["sbatch", "--array=0-11"]);
    // A time limit measured from the cells, not the bare allowance for start-up (0:02:00).
    let limit: Vec<u64> = sbatch[2]
        .strip_prefix("--time=")
        .unwrap_or_else(|| panic!("{sbatch:?}"))
        .split(':')
        .map(|x| x.parse().unwrap())
        .collect();
    let limit_s = limit[0] * 3600 + limit[1] * 60 + limit[2];
    assert!((180..=3600).contains(&limit_s), "{sbatch:?}");
    assert_eq!(sbatch[3..], [script.clone(), slurm_dir.clone()]);

    // The same cells one after another, without Slurm.
    stdout_json(&makemore(&[
        "sweep",
        "plan",
        &sweep_file,
        "--out",
        &reference,
        "--data",
        data,
        "--json",
    ]));
    for i in 0..12 {
        let out = makemore(&["sweep", "cell", &reference, &i.to_string()]);
        let bad = i >= 9; // the last setting, three seeds
        assert_eq!(out.status.success(), !bad, "cell {i}: {out:?}");
    }
    let expected = collected(&reference);

    // The cluster; the array, submitted as the README shows.
    let mut cluster = Cluster::start(Path::new(&t.path("cluster")));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_makemore")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let submitted = cluster
        .command(&sbatch[0])
        .args(&sbatch[1..])
        .current_dir(&t.0)
        .env("PATH", &path)
        .env_remove("MAKEMORE_DATA")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&submitted.stdout).to_string();
    assert!(submitted.status.success(), "sbatch: {submitted:?}");
    let job: u64 = said
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no job id in {said:?}"));

    // Requeue task 0 once its cell has written its first checkpoint (at 10% of the steps).
    let plan_json: Value =
        serde_json::from_str(&std::fs::read_to_string(t.path("on-slurm/sweep-plan.json")).unwrap())
            .unwrap();
    let cell0 = Path::new(&slurm_dir).join(plan_json["cells"][0]["dir"].as_str().unwrap());
    let start = Instant::now();
    while !cell0.join("checkpoint.json").is_file() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "cell 0 wrote no checkpoint in 120 s: {}",
            cluster.log("slurmd")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let task0 = format!("{job}_0");
    let requeue = cluster.client("scontrol", &["requeue", &task0]);
    assert!(requeue.status.success(), "scontrol requeue: {requeue:?}");

    // Wait for the whole array.
    let start = Instant::now();
    loop {
        let q = cluster.client("squeue", &["-h", "-j", &job.to_string(), "-o", "%i %T"]);
        let queued = String::from_utf8_lossy(&q.stdout).trim().to_string();
        if q.status.success() && queued.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < ARRAY_DEADLINE,
            "the array is not done after {ARRAY_DEADLINE:?}: {queued}\n{}",
            cluster.log("slurmctld")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let shown = cluster.client("scontrol", &["show", "job", &task0]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("Restarts=1"),
        "task 0 was not requeued: {shown}"
    );
    let log0 = std::fs::read_to_string(t.path(&format!("makemore-sweep-{job}_0.out"))).unwrap();
    let resumed_at: u64 = log0
        .split("resumed at step ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("task 0 did not resume its cell from a checkpoint: {log0}"));
    assert!(
        (STEPS / 10..STEPS).contains(&resumed_at),
        "task 0 resumed at step {resumed_at} of {STEPS}: {log0}"
    );

    // The same rows as without Slurm; the bad cells failed on their own, naming their logs.
    let got = collected(&slurm_dir);
    assert_eq!(got["cells"], expected["cells"]);
    assert_eq!(got["combos"], expected["combos"]);
    let failed = got["failed"].as_array().unwrap();
    let indices: Vec<u64> = failed
        .iter()
        .map(|f| f["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [9, 10, 11], "{failed:?}");
    for f in failed {
        let i = f["index"].as_u64().unwrap();
        let log = PathBuf::from(t.path(&format!("makemore-sweep-{job}_{i}.out")));
        assert_eq!(
            f["log"].as_str().map(PathBuf::from),
            Some(std::fs::canonicalize(&log).unwrap()),
            "{f}"
        );
        assert!(f["error"].as_str().unwrap().contains("group"), "{f}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("error:"), "{text}");
    }
    assert!(got["missing"].as_array().unwrap().is_empty(), "{got}");

    let left = cluster.stop();
    assert!(
        left.is_empty(),
        "daemons still running after stop: {left:?}"
    );
}
