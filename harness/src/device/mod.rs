//! Where a runner runs. Every device starts `etbench-runner` as a process and hands back its stdout (protocol
//! lines), its stderr and its exit; the local device is a child process on this host. Remote transports implement
//! the same trait, so the measurement path is one.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::results::SystemInfo;
pub mod adb;
pub mod catalog;
pub mod config;
pub mod cores;
pub mod local;
pub mod lock;
pub mod probe;
pub mod push;
pub mod remote;
pub mod shorthand;
pub mod ssh;
pub mod transport;

pub use remote::RemoteDevice;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device {device}: could not start the runner {runner}: {source}; build it with `cargo build --release` or pass --runner")]
    Spawn { device: String, runner: String, source: std::io::Error },
    /// A transport failure (push, remote command), with what the remote side said.
    #[error("device {device}: {message}")]
    Transport { device: String, message: String },
}

/// How a runner process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}{}", signal_name(*s)),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => " (SIGKILL: killed from outside, often the out-of-memory killer)",
        libc::SIGSEGV => " (SIGSEGV: the runner crashed)",
        libc::SIGABRT => " (SIGABRT: the runtime aborted; see its stderr)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGBUS => " (SIGBUS: the model file changed or vanished while mmapped)",
        _ => "",
    }
}

/// Asked when a runner has ended: what happened to the device, when it went away (e.g. an adb device disconnected).
pub type DeviceCheck = Box<dyn FnOnce() -> Option<String> + Send>;

/// A started runner: protocol lines come from `stdout`; stderr is drained on a thread so the runner never blocks.
pub struct RunnerProcess {
    child: Child,
    pub stdout: Box<dyn BufRead + Send>,
    stderr: Option<std::thread::JoinHandle<String>>,
    device_check: Option<DeviceCheck>,
}

impl RunnerProcess {
    /// Waits for the process; returns how it ended and its stderr (ending with what the device check found).
    pub fn finish(mut self) -> (Exit, String) {
        // Drain what is left so the runner is never blocked on a full pipe.
        let _ = std::io::copy(&mut self.stdout, &mut std::io::sink());
        let status = self.child.wait();
        let mut stderr = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let exit = match status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                s.code().map(Exit::Code).or_else(|| s.signal().map(Exit::Signal)).unwrap_or(Exit::Code(-1))
            }
            Err(_) => Exit::Code(-1),
        };
        // Asked whatever the exit: `adb shell` can exit 0 when the connection dropped mid-run.
        if let Some(cause) = self.device_check.take().and_then(|check| check()) {
            stderr.push_str(&format!("\n{cause}\n"));
        }
        (exit, stderr)
    }

    /// Runs `check` once the process has ended; what it returns is appended to the stderr
    /// [`RunnerProcess::finish`] gives.
    pub fn with_device_check(mut self, check: DeviceCheck) -> Self {
        self.device_check = Some(check);
        self
    }

    /// Wraps a child spawned with piped stdout and stderr (locally, or `ssh … runner` by a transport): stdout is
    /// read line by line, stderr is drained on a thread so the runner never blocks on a full pipe.
    pub fn from_child(mut child: Child) -> Self {
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self { child, stdout: Box::new(stdout), stderr: Some(stderr), device_check: None }
    }

    /// Kills the process and its process group (a runner that stopped answering, with whatever it started);
    /// `finish` then reports the signal.
    pub fn kill(&mut self) {
        // Safety: kill(2) with a negative pid signals that process group; the group is the child's own (spawned
        // with `process_group(0)`), so nothing else is hit. A failure (already gone) is harmless.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.kill();
    }

    /// Hands the protocol stream to a reader thread: lines arrive on the returned channel (`None` at the end), so
    /// the caller can wait for each with a timeout.
    pub fn lines(&mut self) -> std::sync::mpsc::Receiver<Option<String>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut stdout: Box<dyn BufRead + Send> = std::mem::replace(&mut self.stdout, Box::new(std::io::empty()));
        std::thread::spawn(move || loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(_) => {
                    if tx.send(Some(line)).is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }
}

pub trait Device: Send + Sync {
    fn name(&self) -> &str;
    /// How etbench reaches the device (`DeviceRef.transport` records its [`as_str`](config::TransportKind::as_str)).
    fn transport(&self) -> config::TransportKind;
    fn info(&self) -> SystemInfo;
    /// Details probed on a remote device, recorded with every result.
    fn probed(&self) -> Option<crate::results::ProbedInfo> {
        None
    }
    /// The device's CPU clusters (for `--cores`), slowest first. The default reads this host's sysfs.
    fn clusters(&self) -> Result<Vec<crate::results::CpuCluster>, DeviceError> {
        let out = Command::new("sh").arg("-c").arg(probe::CPUS_SCRIPT).stdin(Stdio::null()).output().map_err(|e| {
            DeviceError::Transport {
                device: self.name().to_owned(),
                message: format!("cannot read this host's CPUs: {e}"),
            }
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(probe::parse(&text).1.clusters)
    }
    /// Starts the runner with `args` (the model path included); nothing goes through a shell.
    fn spawn_runner(&self, args: &[OsString]) -> Result<RunnerProcess, DeviceError>;
    /// Makes a host model file available on the device (remote devices push it, skipping unchanged copies) and
    /// returns the path the runner opens there. The local device uses the file in place.
    fn stage_model(&self, host_path: &std::path::Path, _sha256: &str) -> Result<String, DeviceError> {
        Ok(host_path.display().to_string())
    }
    /// Where the runner should write a file the host wants at `host_path` (e.g. an ETDump).
    fn artifact_path(&self, host_path: &std::path::Path) -> String {
        host_path.display().to_string()
    }
    /// Brings an artifact written at `device_path` to `host_path` (the local device wrote it there already).
    fn fetch_artifact(&self, _device_path: &str, _host_path: &std::path::Path) -> Result<(), DeviceError> {
        Ok(())
    }
}

/// This host.
pub struct LocalDevice {
    pub runner: PathBuf,
}

impl Device for LocalDevice {
    fn name(&self) -> &str {
        "local"
    }

    fn transport(&self) -> config::TransportKind {
        config::TransportKind::Local
    }

    fn info(&self) -> SystemInfo {
        crate::results::provenance::system_info()
    }

    fn spawn_runner(&self, args: &[OsString]) -> Result<RunnerProcess, DeviceError> {
        let child = Command::new(&self.runner)
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| DeviceError::Spawn {
                device: self.name().to_owned(),
                runner: self.runner.display().to_string(),
                source,
            })?;
        Ok(RunnerProcess::from_child(child))
    }
}

/// Finds `etbench-runner`: `--runner`, then `ETBENCH_RUNNER`, then next to this executable.
pub fn locate_runner(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = explicit.or_else(|| std::env::var_os("ETBENCH_RUNNER").map(PathBuf::from)) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("runner {} does not exist; fix --runner / ETBENCH_RUNNER", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate etbench itself: {e}"))?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    // Integration tests run from target/<profile>/deps; the runner sits one level up.
    for candidate in [dir.join("etbench-runner"), dir.join("../etbench-runner")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "etbench-runner not found next to {}; build it with `cargo build --release` (it is the etbench-ffi crate's binary) or pass --runner PATH",
        exe.display()
    ))
}
