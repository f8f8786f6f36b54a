//! A benchmark device behind a [`Transport`]: on first use it connects, probes the device, checks that the runner
//! suits the device's architecture, and pushes the runner with its ExecuTorch libraries (push cache); models are
//! pushed content-addressed into `WORK_DIR/models/<sha256 prefix>/<file name>`. A device that cannot be prepared
//! keeps the error, so every run of a sweep reports it at once instead of retrying a dead host.
//!
//! Remote layout: `WORK_DIR/bin/etbench-runner`, `WORK_DIR/bin/lib/*.so` (the runner's RUNPATH includes
//! `$ORIGIN/lib`), `WORK_DIR/models/…`, `WORK_DIR/artifacts/…`, `WORK_DIR/.etbench-manifest.jsonl`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};

use super::probe;
use crate::results::ProbedInfo;
use super::transport::{quote, Transport};
use crate::device::{Device, DeviceError, RunnerProcess};
use crate::device::config::Profile;
use crate::device::push::{sha256_cached, PushRequest, Pushed, Pusher};
use crate::results::SystemInfo;

/// The runner and the shared libraries to ship with it.
#[derive(Debug, Clone)]
pub struct RunnerBundle {
    pub runner: PathBuf,
    /// Host paths of the ExecuTorch `.so` files the runner needs (found through its RUNPATH).
    pub libs: Vec<PathBuf>,
    /// The runner's architecture as its ELF header says (`x86_64`, `aarch64`, `arm`).
    pub arch: String,
}

struct Prepared {
    info: SystemInfo,
    probed: ProbedInfo,
}

pub struct RemoteDevice {
    profile: Profile,
    transport: Box<dyn Transport>,
    bundle: Result<RunnerBundle, String>,
    prepared: OnceLock<Result<Prepared, String>>,
    staged: Mutex<HashMap<String, String>>,
}

impl RemoteDevice {
    pub fn new(profile: Profile, transport: Box<dyn Transport>, bundle: Result<RunnerBundle, String>) -> Self {
        Self { profile, transport, bundle, prepared: OnceLock::new(), staged: Mutex::new(HashMap::new()) }
    }

    fn work_dir(&self) -> &str {
        self.profile.work_dir.as_deref().unwrap_or("/tmp/etbench").trim_end_matches('/')
    }

    fn runner_path(&self) -> String {
        format!("{}/bin/etbench-runner", self.work_dir())
    }

    fn error(&self, message: impl Into<String>) -> DeviceError {
        DeviceError::Transport { device: self.profile.name.clone(), message: message.into() }
    }

    /// Connects, probes and installs the runner once; later calls return the same outcome.
    fn prepared(&self) -> Result<&Prepared, DeviceError> {
        self.prepared
            .get_or_init(|| self.prepare())
            .as_ref()
            .map_err(|message| DeviceError::Transport { device: self.profile.name.clone(), message: message.clone() })
    }

    fn prepare(&self) -> Result<Prepared, String> {
        let strip = |e: super::transport::TransportError| strip_device(&e.to_string(), &self.profile.name);
        self.transport.connect().map_err(strip)?;
        let out = self.transport.run_ok("probing the device", probe::SCRIPT).map_err(strip)?;
        let (info, probed) = probe::parse(&out.stdout_text());
        let bundle = self.bundle.as_ref().map_err(Clone::clone)?;
        let target = self.profile.target();
        // `uname -m` is only a hint (a board may run other binaries through emulation, like the lab's arm1):
        // the runner starting on the device is the real check, and its failure names both sides.
        self.install_runner(bundle).map_err(strip)?;
        self.check_runner(bundle, &target, &info.arch)?;
        if normalise_arch(&info.arch) != triple_arch(&target) {
            eprintln!(
                "etbench: {}: note: the device reports {} (uname -m) yet runs the {target} runner (emulation or a compat layer)",
                self.profile.name, info.arch
            );
        }
        Ok(Prepared { info, probed })
    }

    fn pusher(&self) -> Pusher<'_> {
        Pusher { transport: self.transport.as_ref(), work_dir: self.work_dir(), each_file: true }
    }

    fn install_runner(&self, bundle: &RunnerBundle) -> Result<(), super::transport::TransportError> {
        let bin = format!("{}/bin", self.work_dir());
        let mut files = vec![(bundle.runner.clone(), self.runner_path(), true)];
        for lib in &bundle.libs {
            let name = lib.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            files.push((lib.clone(), format!("{bin}/lib/{name}"), false));
        }
        let mut hashes = Vec::with_capacity(files.len());
        for (local, _, _) in &files {
            hashes.push(sha256_cached(local).map_err(|e| super::transport::TransportError::Other {
                device: self.profile.name.clone(),
                message: format!("{}: {e}", local.display()),
            })?);
        }
        let reqs: Vec<PushRequest> = files
            .iter()
            .zip(&hashes)
            .map(|((local, remote, executable), sha256)| PushRequest {
                local,
                sha256,
                remote,
                executable: *executable,
                verify_hash: self.profile.verify_hash,
            })
            .collect();
        self.pusher().push_all(&reqs)?;
        Ok(())
    }

    /// The installed runner must start; when it does not, say which triple it was built for.
    fn check_runner(&self, bundle: &RunnerBundle, target: &str, device_arch: &str) -> Result<(), String> {
        let out = self
            .transport
            .run(&format!("{} --version", quote(&self.runner_path())))
            .map_err(|e| strip_device(&e.to_string(), &self.profile.name))?;
        if out.success() {
            return Ok(());
        }
        Err(format!(
            "the runner {} ({} build for target {target}) does not start on this {device_arch} device ({}): {}; build it for the device with `scripts/build-runner.sh --target {target}` or set `runner` in the profile",
            self.runner_path(),
            bundle.arch,
            out.code.map(|c| format!("exit code {c}")).unwrap_or_else(|| "killed".into()),
            out.stderr.trim().replace('\n', " | ")
        ))
    }
}

/// Drops a leading "device NAME: " so messages wrapped again by [`DeviceError`] name the device once.
fn strip_device(message: &str, device: &str) -> String {
    message.strip_prefix(&format!("device {device}: ")).unwrap_or(message).to_owned()
}

fn normalise_arch(arch: &str) -> &str {
    match arch.trim() {
        "arm64" | "aarch64" | "armv8l" => "aarch64",
        "amd64" | "x86_64" => "x86_64",
        a if a.starts_with("armv7") => "arm",
        a => a,
    }
}

/// The architecture part of a triple, in `uname -m` terms.
pub fn triple_arch(triple: &str) -> &str {
    let arch = triple.split('-').next().unwrap_or(triple);
    if arch.starts_with("armv7") || arch == "arm" || arch == "thumbv7neon" {
        "arm"
    } else {
        arch
    }
}

impl Device for RemoteDevice {
    fn name(&self) -> &str {
        &self.profile.name
    }

    fn transport(&self) -> &'static str {
        self.profile.transport.as_str()
    }

    fn info(&self) -> SystemInfo {
        match self.prepared() {
            Ok(p) => p.info.clone(),
            Err(_) => SystemInfo {
                hostname: None,
                os: None,
                os_version: None,
                kernel: None,
                arch: "unknown".into(),
                cpu_brand: None,
                cpu_logical_cores: 1,
                cpu_physical_cores: None,
                memory_total_bytes: 0,
            },
        }
    }

    fn probed(&self) -> Option<ProbedInfo> {
        self.prepared().ok().map(|p| p.probed.clone())
    }

    fn spawn_runner(&self, args: &[OsString]) -> Result<RunnerProcess, DeviceError> {
        self.prepared()?;
        let mut script = format!("cd -- {} && exec env", quote(self.work_dir()));
        for (key, value) in &self.profile.env {
            script.push(' ');
            script.push_str(&quote(&format!("{key}={value}")));
        }
        script.push(' ');
        script.push_str(&quote(&self.runner_path()));
        for arg in args {
            script.push(' ');
            script.push_str(&quote(&arg.to_string_lossy()));
        }
        let child = self
            .transport
            .command(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| DeviceError::Spawn { device: self.profile.name.clone(), runner: self.runner_path(), source })?;
        Ok(RunnerProcess::from_child(child))
    }

    fn stage_model(&self, host_path: &Path, sha256: &str) -> Result<String, DeviceError> {
        self.prepared()?;
        if let Some(remote) = self.staged.lock().expect("staged lock").get(sha256) {
            return Ok(remote.clone());
        }
        let name = host_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.pte".into());
        let remote = format!("{}/models/{}/{name}", self.work_dir(), &sha256[..sha256.len().min(16)]);
        let req = PushRequest { local: host_path, sha256, remote: &remote, executable: false, verify_hash: self.profile.verify_hash };
        match self.pusher().push(&req).map_err(|e| self.error(strip_device(&e.to_string(), &self.profile.name)))? {
            Pushed::Unchanged => eprintln!("etbench: {}: {name} is already on the device (unchanged), not pushed", self.profile.name),
            Pushed::Sent { .. } => {}
        }
        self.staged.lock().expect("staged lock").insert(sha256.to_owned(), remote.clone());
        Ok(remote)
    }

    fn artifact_path(&self, host_path: &Path) -> String {
        let name = host_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "artifact".into());
        format!("{}/artifacts/{name}", self.work_dir())
    }

    fn fetch_artifact(&self, device_path: &str, host_path: &Path) -> Result<(), DeviceError> {
        self.transport.pull(device_path, host_path).map_err(|e| self.error(strip_device(&e.to_string(), &self.profile.name)))
    }
}

/// Finds the runner's ExecuTorch libraries: its `DT_NEEDED` entries (and theirs) that exist in its RUNPATH
/// directories, `$ORIGIN` and `$ORIGIN/lib` included. System libraries (libc, libstdc++) are the device's own.
pub fn bundle(runner: &Path) -> Result<RunnerBundle, String> {
    let (arch, _, runpath) = elf_facts(runner)?;
    let origin = runner.parent().unwrap_or(Path::new(".")).to_owned();
    let dirs: Vec<PathBuf> = runpath
        .iter()
        .flat_map(|r| r.split(':'))
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d.replace("$ORIGIN", &origin.display().to_string())))
        .collect();
    let mut libs: Vec<PathBuf> = Vec::new();
    let mut queue = vec![runner.to_owned()];
    while let Some(file) = queue.pop() {
        let (_, needed, _) = elf_facts(&file)?;
        for name in needed {
            let Some(found) = dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()) else { continue };
            if !libs.iter().any(|l| l.file_name() == found.file_name()) {
                queue.push(found.clone());
                libs.push(found);
            }
        }
    }
    libs.sort();
    Ok(RunnerBundle { runner: runner.to_owned(), libs, arch })
}

/// (architecture, DT_NEEDED, RUNPATH/RPATH) of an ELF file.
fn elf_facts(path: &Path) -> Result<(String, Vec<String>, Vec<String>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the runner {}: {e}", path.display()))?;
    let elf = goblin::elf::Elf::parse(&bytes)
        .map_err(|e| format!("{} is not an ELF executable ({e}); pass an etbench-runner binary", path.display()))?;
    let arch = match elf.header.e_machine {
        goblin::elf::header::EM_X86_64 => "x86_64",
        goblin::elf::header::EM_AARCH64 => "aarch64",
        goblin::elf::header::EM_ARM => "arm",
        goblin::elf::header::EM_RISCV => "riscv64",
        _ => "unknown",
    };
    let needed = elf.libraries.iter().map(|s| s.to_string()).collect();
    let mut runpath: Vec<String> = elf.runpaths.iter().map(|s| s.to_string()).collect();
    runpath.extend(elf.rpaths.iter().map(|s| s.to_string()));
    Ok((arch.to_owned(), needed, runpath))
}

/// The runner for `target`: the profile's path, else `target/<triple>/release/etbench-runner` (built with
/// `scripts/build-runner.sh` when missing), else for the host triple the runner beside etbench.
pub fn resolve_runner(profile: &Profile, host_runner: Option<PathBuf>) -> Result<RunnerBundle, String> {
    let target = profile.target();
    let runner = match &profile.runner {
        Some(crate::device::config::RunnerSource::Path(p)) if p.is_file() => p.clone(),
        Some(crate::device::config::RunnerSource::Path(p)) => {
            return Err(format!(
                "the runner {} named in the profile does not exist; build one with `scripts/build-runner.sh --target {target}` or fix `runner`",
                p.display()
            ))
        }
        _ if target == crate::device::config::host_triple() => host_runner.ok_or_else(|| {
            "etbench-runner for this host not found; build it with `cargo build --release` or pass --runner".to_owned()
        })?,
        _ => built_runner(&target)?,
    };
    let bundle = bundle(&runner)?;
    if bundle.arch != triple_arch(&target) {
        return Err(format!(
            "the runner {} is built for {}, but the device's target is {target}; build one with `scripts/build-runner.sh --target {target}` (or fix `runner`/`target` in the profile)",
            runner.display(),
            bundle.arch
        ));
    }
    Ok(bundle)
}

fn built_runner(target: &str) -> Result<PathBuf, String> {
    let root = crate::home::checkout().ok_or_else(|| {
        format!("no etbench-runner for {target}: this etbench is not inside a source checkout; build one with scripts/build-runner.sh --target {target} and set `runner` in the profile")
    })?;
    let path = root.join("target").join(target).join("release/etbench-runner");
    if path.is_file() {
        return Ok(path);
    }
    let script = root.join("scripts/build-runner.sh");
    if !script.is_file() {
        return Err(format!("no etbench-runner for {target}: build one for that triple and set `runner` in the profile"));
    }
    eprintln!("etbench: building etbench-runner for {target} (scripts/build-runner.sh --target {target})");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .args(["--target", target])
        .current_dir(&root)
        .stdout(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if status.success() && path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no etbench-runner for {target}: `scripts/build-runner.sh --target {target}` failed ({status}); see its output above"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_match_triples() {
        assert_eq!(triple_arch("aarch64-unknown-linux-gnu"), "aarch64");
        assert_eq!(triple_arch("aarch64-linux-android"), normalise_arch("arm64"));
        assert_eq!(triple_arch("armv7-linux-androideabi"), normalise_arch("armv7l"));
        assert_eq!(triple_arch("x86_64-unknown-linux-gnu"), normalise_arch("x86_64"));
    }
}
