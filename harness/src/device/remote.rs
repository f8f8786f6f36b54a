//! A benchmark device behind a [`Transport`]: on first use it connects, probes the device, checks that the work dir
//! may start programs, installs the runner (push cache) and checks that it starts; models are pushed
//! content-addressed into `WORK_DIR/models/<sha256 prefix>/<file name>`. A device that cannot be prepared keeps the
//! error, so every run of a sweep reports it at once instead of retrying a dead host.
//!
//! A runner comes in one of two layouts ([`Layout`]):
//! - direct: `WORK_DIR/bin/etbench-runner` and its ExecuTorch libraries in `WORK_DIR/bin/lib/` (the runner's RUNPATH
//!   includes `$ORIGIN/lib`), started as is; the C library is the device's (glibc on boards, bionic for an NDK build);
//! - loader bundle (Android without an NDK, `scripts/bundle-android.sh`): every file of the bundle in
//!   `WORK_DIR/bundle/`, started there as `lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner ARGS`: the
//!   bundle brings its own glibc, as its MANIFEST records.
//!
//! A model with a runner of its own (`run --runner A --runner B`, paired processes) gets that runner installed in
//! `WORK_DIR/runners/<sha256 prefix of the runner>/` (bin/ or bundle/ as above), so two ExecuTorch builds live side
//! by side and alternating processes never push either again.
//!
//! Also `WORK_DIR/models/…`, `WORK_DIR/artifacts/…`, `WORK_DIR/.etbench-manifest.jsonl`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use super::probe;
use super::transport::{quote, Transport, TransportError};
use crate::device::config::{Profile, RunnerSource, TransportKind, ANDROID};
use crate::device::push::{sha256_cached, PushRequest, Pushed, Pusher};
use crate::device::{Device, DeviceError, RunnerProcess};
use crate::results::{CpuCluster, ProbedInfo, RunnerLibc, SystemInfo};

/// The bundle's loader and library directory, relative to the bundle (`scripts/bundle-android.sh`).
const LOADER: &str = "lib/ld-linux-aarch64.so.1";
const LIBRARY_PATH: &str = "lib";

/// The runner and what it needs on the device.
#[derive(Debug, Clone)]
pub struct RunnerBundle {
    /// Host path of the runner binary.
    pub runner: PathBuf,
    /// The runner's architecture as its ELF header says (`x86_64`, `aarch64`, `arm`).
    pub arch: String,
    pub layout: Layout,
}

#[derive(Debug, Clone)]
pub enum Layout {
    /// The runner started directly, with the ExecuTorch `.so` files found through its RUNPATH (host paths).
    Direct { libs: Vec<PathBuf> },
    /// A bundle directory that brings its own loader and libraries; `files` are its paths relative to `dir`.
    Loader { dir: PathBuf, files: Vec<String>, libc: RunnerLibc },
}

impl RunnerBundle {
    /// How `devices info` shows it.
    pub fn describe(&self) -> serde_json::Value {
        match &self.layout {
            Layout::Direct { libs } => {
                serde_json::json!({"kind": "direct", "path": self.runner, "arch": self.arch, "libs": libs})
            }
            Layout::Loader { dir, files, libc } => serde_json::json!({
                "kind": "bundle",
                "dir": dir,
                "arch": self.arch,
                "files": files.len(),
                "bytes": files.iter().filter_map(|f| std::fs::metadata(dir.join(f)).ok()).map(|m| m.len()).sum::<u64>(),
                "libc": libc.to_string(),
                "launch": format!("cd WORK_DIR/bundle && {LOADER} --library-path {LIBRARY_PATH} ./etbench-runner ARGS"),
            }),
        }
    }
}

/// What probing found (the glibc version, when the device has one, decides a direct runner's libc).
#[derive(Clone)]
struct Probed {
    info: SystemInfo,
    probed: ProbedInfo,
    glibc: Option<String>,
}

struct Prepared {
    info: SystemInfo,
    probed: ProbedInfo,
}

pub struct RemoteDevice {
    profile: Profile,
    transport: Arc<dyn Transport>,
    bundle: Result<RunnerBundle, String>,
    probe: OnceLock<Result<Probed, String>>,
    prepared: OnceLock<Result<Prepared, String>>,
    staged: Mutex<HashMap<String, String>>,
    /// Where under the work dir the runner lives: "" (the profile's runner) or `runners/<sha prefix>`.
    runner_home: String,
}

impl RemoteDevice {
    pub fn new(profile: Profile, transport: Box<dyn Transport>, bundle: Result<RunnerBundle, String>) -> Self {
        Self {
            profile,
            transport: Arc::from(transport),
            bundle,
            probe: OnceLock::new(),
            prepared: OnceLock::new(),
            staged: Mutex::new(HashMap::new()),
            runner_home: String::new(),
        }
    }

    /// This device with a runner of its own (`--runner` per model): the runner at `path` (a runner binary for the
    /// profile's target, or a runner bundle directory), installed under `WORK_DIR/runners/<its sha256 prefix>/`.
    pub fn with_runner(profile: Profile, transport: Box<dyn Transport>, path: &Path) -> Self {
        let target = profile.target();
        let bundle = if path.is_dir() { loader_bundle(path) } else { bundle(path) }.and_then(|b| {
            if b.arch != triple_arch(&target) {
                return Err(format!(
                    "--runner {} is built for {}, but device {}'s target is {target}; pass one built with `scripts/build-runner.sh --target {target}`",
                    path.display(),
                    b.arch,
                    profile.name
                ));
            }
            Ok(b)
        });
        let home = bundle
            .as_ref()
            .ok()
            .and_then(|b| sha256_cached(&b.runner).ok())
            .map(|sha| format!("runners/{}", &sha[..16]));
        let mut device = Self::new(profile, transport, bundle);
        device.runner_home = home.unwrap_or_default();
        device
    }

    fn work_dir(&self) -> &str {
        self.profile.work_dir.as_deref().unwrap_or("/tmp/etbench").trim_end_matches('/')
    }

    /// The directory the runner's bin/ or bundle/ is in: the work dir, or its `runners/<sha prefix>`.
    fn runner_home(&self) -> String {
        match self.runner_home.as_str() {
            "" => self.work_dir().to_owned(),
            home => format!("{}/{home}", self.work_dir()),
        }
    }

    /// Where the runner is on the device, as its launch line names it.
    fn runner_path(&self) -> String {
        match self.bundle.as_ref().map(|b| &b.layout) {
            Ok(Layout::Loader { .. }) => format!("{}/etbench-runner", self.bundle_dir()),
            _ => format!("{}/bin/etbench-runner", self.runner_home()),
        }
    }

    fn bundle_dir(&self) -> String {
        format!("{}/bundle", self.runner_home())
    }

    fn error(&self, message: impl Into<String>) -> DeviceError {
        DeviceError::Transport { device: self.profile.name.clone(), message: message.into() }
    }

    fn strip(&self, e: TransportError) -> String {
        strip_device(&e.to_string(), &self.profile.name)
    }

    /// Connects and probes once (read-only: safe before the device lock is taken, e.g. for `--cores`).
    fn probe(&self) -> Result<&Probed, DeviceError> {
        self.probe
            .get_or_init(|| {
                self.transport.connect().map_err(|e| self.strip(e))?;
                let out = self.transport.run_ok("probing the device", probe::SCRIPT).map_err(|e| self.strip(e))?;
                let text = out.stdout_text();
                let (info, probed) = probe::parse(&text);
                Ok(Probed { info, probed, glibc: probe::glibc_version(&text) })
            })
            .as_ref()
            .map_err(|message| self.error(message.clone()))
    }

    /// Probes, checks the work dir and installs the runner once; later calls return the same outcome.
    fn prepared(&self) -> Result<&Prepared, DeviceError> {
        self.prepared
            .get_or_init(|| self.prepare())
            .as_ref()
            .map_err(|message| DeviceError::Transport { device: self.profile.name.clone(), message: message.clone() })
    }

    fn prepare(&self) -> Result<Prepared, String> {
        let Probed { info, mut probed, glibc } =
            self.probe().map_err(|e| strip_device(&e.to_string(), &self.profile.name))?.clone();
        let bundle = self.bundle.as_ref().map_err(Clone::clone)?;
        let target = self.profile.target();
        self.check_work_dir(&target)?;
        // `uname -m` is only a hint (a board may run other binaries through emulation, like the lab's arm1):
        // the runner starting on the device is the real check, and its failure names both sides.
        self.install_runner(bundle).map_err(|e| self.strip(e))?;
        self.check_runner(bundle, &target, &info.arch)?;
        if normalise_arch(&info.arch) != triple_arch(&target) {
            crate::say!(
                "etbench: {}: note: the device reports {} (uname -m) yet runs the {target} runner (emulation or a compat layer)",
                self.profile.name, info.arch
            );
        }
        probed.runner_libc = Some(runner_libc(bundle, &target, glibc));
        Ok(Prepared { info, probed })
    }

    /// The work dir must exist and be on a mount that may start programs (Android's /sdcard is noexec).
    fn check_work_dir(&self, target: &str) -> Result<(), String> {
        let dir = self.work_dir();
        let script =
            format!("mkdir -p -- {d} && cd -- {d} && pwd -P && echo @@ETB@@ && cat /proc/self/mounts", d = quote(dir));
        let out = self.transport.run(&script).map_err(|e| self.strip(e))?;
        let text = out.stdout_text();
        let Some((physical, mounts)) = text.split_once("@@ETB@@\n") else {
            return Err(format!(
                "cannot create or enter work_dir {dir}: {}; pick a writable directory{}",
                out.stderr.trim().replace('\n', " | "),
                if target == ANDROID { " such as /data/local/tmp/etbench" } else { "" }
            ));
        };
        let physical = physical.trim();
        let Some(m) = mount_of(physical, mounts).filter(|m| m.options.iter().any(|o| o == "noexec")) else {
            return Ok(());
        };
        let really = if physical != dir { format!(" (really {physical})") } else { String::new() };
        let fix = if target == ANDROID {
            "Android mounts shared storage such as /sdcard noexec; set work_dir in the profile to a directory under /data/local/tmp (e.g. work_dir = \"/data/local/tmp/etbench\")"
        } else {
            "set work_dir in the profile to a directory on a mount without noexec (on Android: under /data/local/tmp)"
        };
        Err(format!(
            "work_dir {dir}{really} is on the mount {} ({}, mounted noexec): the device will not start the runner from there; {fix}",
            m.point, m.fstype
        ))
    }

    fn pusher(&self) -> Pusher<'_> {
        Pusher { transport: self.transport.as_ref(), work_dir: self.work_dir(), each_file: true }
    }

    /// (host file, device path, executable) for every file of the runner.
    fn runner_files(&self, bundle: &RunnerBundle) -> Vec<(PathBuf, String, bool)> {
        match &bundle.layout {
            Layout::Direct { libs } => {
                let bin = format!("{}/bin", self.runner_home());
                let mut files = vec![(bundle.runner.clone(), self.runner_path(), true)];
                for lib in libs {
                    let name = lib.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    files.push((lib.clone(), format!("{bin}/lib/{name}"), false));
                }
                files
            }
            Layout::Loader { dir, files, .. } => files
                .iter()
                .map(|rel| {
                    let local = dir.join(rel);
                    let executable = std::fs::metadata(&local).is_ok_and(|m| {
                        use std::os::unix::fs::PermissionsExt;
                        m.permissions().mode() & 0o111 != 0
                    });
                    (local, format!("{}/{rel}", self.bundle_dir()), executable)
                })
                .collect(),
        }
    }

    fn install_runner(&self, bundle: &RunnerBundle) -> Result<(), TransportError> {
        let files = self.runner_files(bundle);
        let mut hashes = Vec::with_capacity(files.len());
        for (local, _, _) in &files {
            hashes.push(sha256_cached(local).map_err(|e| TransportError::Other {
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
        let loader = matches!(bundle.layout, Layout::Loader { .. });
        let started = std::time::Instant::now();
        let pushed = Pusher { each_file: !loader, ..self.pusher() }.push_all(&reqs)?;
        if let Layout::Loader { dir, .. } = &bundle.layout {
            self.report_bundle(dir, &files, &pushed, started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// One line for a bundle push: unchanged, or how many files (which, when few) and bytes were sent.
    fn report_bundle(&self, dir: &Path, files: &[(PathBuf, String, bool)], pushed: &[Pushed], secs: f64) {
        let prefix = format!("{}/", self.bundle_dir());
        let sent: Vec<&str> = files
            .iter()
            .zip(pushed)
            .filter(|(_, p)| **p != Pushed::Unchanged)
            .map(|((_, remote, _), _)| remote.strip_prefix(&prefix).unwrap_or(remote))
            .collect();
        let bytes: u64 = pushed.iter().map(|p| if let Pushed::Sent { bytes, .. } = p { *bytes } else { 0 }).sum();
        let name = &self.profile.name;
        if sent.is_empty() {
            crate::say!("etbench: {name}: runner bundle unchanged on the device ({} files, checked in {secs:.1} s), nothing sent", files.len());
            return;
        }
        let which =
            if sent.len() < files.len() && sent.len() <= 3 { format!(": {}", sent.join(", ")) } else { String::new() };
        crate::say!(
            "etbench: {name}: runner bundle {} → {}: pushed {} of {} files ({} in {secs:.1} s){which}",
            dir.display(),
            self.bundle_dir(),
            sent.len(),
            files.len(),
            crate::units::mebibytes(bytes)
        );
    }

    /// The shell line that starts the runner with `args` (every argument quoted), from the work dir or the bundle.
    fn launch_script(&self, bundle: &RunnerBundle, args: &[OsString]) -> String {
        let (dir, program) = match &bundle.layout {
            Layout::Direct { .. } => (self.work_dir().to_owned(), quote(&self.runner_path())),
            Layout::Loader { .. } => {
                (self.bundle_dir(), format!("{LOADER} --library-path {LIBRARY_PATH} ./etbench-runner"))
            }
        };
        let mut script = format!("cd -- {} && exec env", quote(&dir));
        for (key, value) in &self.profile.env {
            script.push(' ');
            script.push_str(&quote(&format!("{key}={value}")));
        }
        script.push(' ');
        script.push_str(&program);
        for arg in args {
            script.push(' ');
            script.push_str(&quote(&arg.to_string_lossy()));
        }
        script
    }

    /// The installed runner must start; when it does not, say which triple it was built for.
    fn check_runner(&self, bundle: &RunnerBundle, target: &str, device_arch: &str) -> Result<(), String> {
        let out = self.transport.run(&self.launch_script(bundle, &["--version".into()])).map_err(|e| self.strip(e))?;
        if out.success() {
            return Ok(());
        }
        let what = match &bundle.layout {
            Layout::Direct { .. } => format!("the runner {} ({} build for target {target})", self.runner_path(), bundle.arch),
            Layout::Loader { libc, .. } => format!(
                "the runner bundle in {} ({} runner with {libc}, started as {LOADER} --library-path {LIBRARY_PATH} ./etbench-runner)",
                self.bundle_dir(),
                bundle.arch
            ),
        };
        Err(format!(
            "{what} does not start on this {device_arch} device ({}): {}; build it for the device with `scripts/build-runner.sh --target {target}` or set `runner` in the profile",
            out.code.map(|c| format!("exit code {c}")).unwrap_or_else(|| "killed".into()),
            out.stderr.trim().replace('\n', " | ")
        ))
    }
}

/// A mount from `/proc/self/mounts`.
#[derive(Debug, PartialEq)]
struct Mount {
    point: String,
    fstype: String,
    options: Vec<String>,
}

/// The mount holding `path` (absolute, symlinks resolved): the longest mount point that contains it, the last
/// mounted when several share that point.
fn mount_of(path: &str, mounts: &str) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mounts.lines() {
        let mut w = line.split_whitespace();
        let (Some(_), Some(point), Some(fstype), Some(options)) = (w.next(), w.next(), w.next(), w.next()) else {
            continue;
        };
        let point = unescape_mount(point);
        let inside = point == "/" || path == point || path.starts_with(&format!("{}/", point.trim_end_matches('/')));
        if inside && best.as_ref().is_none_or(|b| point.len() >= b.point.len()) {
            best = Some(Mount {
                point,
                fstype: fstype.to_owned(),
                options: options.split(',').map(str::to_owned).collect(),
            });
        }
    }
    best
}

/// `/proc/mounts` writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            out.push(u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which libc the runner uses on the device: the bundle's glibc, else the device's own (bionic for an Android
/// target, musl for a musl one, glibc with the version the probe read).
pub fn runner_libc(bundle: &RunnerBundle, target: &str, device_glibc: Option<String>) -> RunnerLibc {
    let device = |libc: &str, version: Option<String>| RunnerLibc {
        provided_by: "device".into(),
        libc: libc.into(),
        version,
        detail: None,
    };
    match &bundle.layout {
        Layout::Loader { libc, .. } => libc.clone(),
        Layout::Direct { .. } if target.contains("android") => device("bionic", None),
        Layout::Direct { .. } if target.ends_with("musl") => device("musl", None),
        Layout::Direct { .. } => match device_glibc {
            Some(v) => device("glibc", Some(v)),
            None => device("unknown", None),
        },
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

    fn transport(&self) -> TransportKind {
        self.profile.transport
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

    fn clusters(&self) -> Result<Vec<CpuCluster>, DeviceError> {
        Ok(self.probe()?.probed.clusters.clone())
    }

    fn spawn_runner(&self, args: &[OsString]) -> Result<RunnerProcess, DeviceError> {
        let bundle = self.bundle.as_ref().map_err(|e| self.error(e.clone()))?;
        self.prepared()?;
        // Checks the connection again when the last run lost the device (a network adb device is reconnected).
        self.transport.connect().map_err(|e| self.error(self.strip(e)))?;
        let child = self
            .transport
            .command(&self.launch_script(bundle, args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| DeviceError::Spawn {
                device: self.profile.name.clone(),
                runner: self.runner_path(),
                source,
            })?;
        let transport = Arc::clone(&self.transport);
        Ok(RunnerProcess::from_child(child).with_device_check(Box::new(move || transport.lost())))
    }

    fn stage_model(&self, host_path: &Path, sha256: &str) -> Result<String, DeviceError> {
        self.prepared()?;
        if let Some(remote) = self.staged.lock().expect("staged lock").get(sha256) {
            return Ok(remote.clone());
        }
        let name =
            host_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.pte".into());
        let remote = format!("{}/models/{}/{name}", self.work_dir(), &sha256[..sha256.len().min(16)]);
        let req = PushRequest {
            local: host_path,
            sha256,
            remote: &remote,
            executable: false,
            verify_hash: self.profile.verify_hash,
        };
        match self.pusher().push(&req).map_err(|e| self.error(strip_device(&e.to_string(), &self.profile.name)))? {
            Pushed::Unchanged => {
                crate::say!("etbench: {}: {name} is already on the device (unchanged), not pushed", self.profile.name)
            }
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
        self.transport
            .pull(device_path, host_path)
            .map_err(|e| self.error(strip_device(&e.to_string(), &self.profile.name)))
    }
}

/// A runner started directly, with its ExecuTorch libraries: its `DT_NEEDED` entries (and theirs) that exist in its
/// RUNPATH directories, `$ORIGIN` and `$ORIGIN/lib` included. System libraries (libc, libstdc++) are the device's own.
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
    Ok(RunnerBundle { runner: runner.to_owned(), arch, layout: Layout::Direct { libs } })
}

/// A loader bundle directory made by `scripts/bundle-android.sh`: every file in it (MANIFEST, README and licences
/// included), and the libc its MANIFEST names for `lib/libc.so.6`.
pub fn loader_bundle(dir: &Path) -> Result<RunnerBundle, String> {
    let runner = dir.join("etbench-runner");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).map_err(|e| {
        format!(
            "{} is not a runner bundle (MANIFEST: {e}); rebuild it with `scripts/build-runner.sh --target {ANDROID}`",
            dir.display()
        )
    })?;
    for needed in ["etbench-runner", LOADER] {
        if !dir.join(needed).is_file() {
            return Err(format!(
                "the runner bundle {} has no {needed}; rebuild it with `scripts/build-runner.sh --target {ANDROID}`",
                dir.display()
            ));
        }
    }
    let (arch, _, _) = elf_facts(&runner)?;
    let mut files = Vec::new();
    walk(dir, dir, &mut files).map_err(|e| format!("reading the runner bundle {}: {e}", dir.display()))?;
    files.sort();
    let origin = manifest.lines().find_map(|l| {
        let mut cols = l.split('\t');
        (cols.next() == Some("lib/libc.so.6")).then(|| cols.nth(1).map(str::to_owned)).flatten()
    });
    // "Debian libc6:arm64 2.36-9+deb12u14" → 2.36
    let version = origin.as_deref().and_then(|o| {
        let after = o.split_once("libc6:")?.1.split_whitespace().nth(1)?;
        Some(after.split('-').next()?.to_owned())
    });
    let libc = RunnerLibc { provided_by: "bundled".into(), libc: "glibc".into(), version, detail: origin };
    Ok(RunnerBundle { runner, arch, layout: Layout::Loader { dir: dir.to_owned(), files, libc } })
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).expect("under root").to_string_lossy().into_owned());
        }
    }
    Ok(())
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

/// The runner for a profile: `runner = "PATH"` (started directly); for `aarch64-linux-android` the runner bundle
/// (`runner` unset or `"bundle"`); for the host triple the runner beside etbench; else
/// `target/<triple>/release/etbench-runner`. Bundle and cross runner are built with `scripts/build-runner.sh` when
/// missing.
pub fn resolve_runner(profile: &Profile, host_runner: Option<PathBuf>) -> Result<RunnerBundle, String> {
    let target = profile.target();
    let bundle = match &profile.runner {
        Some(RunnerSource::Path(p)) if p.is_file() => bundle(p)?,
        Some(RunnerSource::Path(p)) => {
            return Err(format!(
                "the runner {} named in the profile does not exist; build one with `scripts/build-runner.sh --target {target}` or fix `runner`",
                p.display()
            ))
        }
        Some(RunnerSource::Bundle) | None if target == ANDROID => return loader_bundle(&built(&target, Built::Bundle)?),
        _ if target == crate::device::config::host_triple() => bundle(&host_runner.ok_or_else(|| {
            "etbench-runner for this host not found; build it with `cargo build --release` or pass --runner".to_owned()
        })?)?,
        _ => bundle(&built(&target, Built::Runner)?)?,
    };
    if bundle.arch != triple_arch(&target) {
        return Err(format!(
            "the runner {} is built for {}, but the device's target is {target}; build one with `scripts/build-runner.sh --target {target}` (or fix `runner`/`target` in the profile)",
            bundle.runner.display(),
            bundle.arch
        ));
    }
    Ok(bundle)
}

/// What [`built`] looks for in the checkout's `target/`.
#[derive(Clone, Copy, PartialEq)]
enum Built {
    /// `target/<triple>/release/etbench-runner` (for `aarch64-linux-android`: the NDK build, `--ndk`).
    Runner,
    /// `target/runner-bundles/<triple>/`.
    Bundle,
}

/// Whether a cross build at `built` is older than this host's runner: the host runner is relinked whenever the
/// runner's or the protocol's sources change, so an older cross build speaks an older protocol and is rebuilt.
fn stale(built: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let host = super::locate_runner(None).ok().and_then(|p| modified(&p));
    matches!((host, modified(built)), (Some(h), Some(b)) if h > b)
}

/// The runner (or bundle) for `target` in this checkout, built with `scripts/build-runner.sh` when missing or older
/// than this host's runner (see [`stale`]).
fn built(target: &str, what: Built) -> Result<PathBuf, String> {
    let root = crate::home::checkout().ok_or_else(|| {
        format!("no etbench-runner for {target}: this etbench is not inside a source checkout; build one with scripts/build-runner.sh --target {target} and set `runner` in the profile")
    })?;
    let target_dir = root.join("target");
    let (path, ready): (PathBuf, fn(&Path) -> bool) = match what {
        Built::Runner => (target_dir.join(target).join("release/etbench-runner"), |p| p.is_file() && !stale(p)),
        Built::Bundle => (target_dir.join("runner-bundles").join(target), |p| {
            p.join("MANIFEST").is_file() && !stale(&p.join("MANIFEST"))
        }),
    };
    if ready(&path) {
        return Ok(path);
    }
    let script = root.join("scripts/build-runner.sh");
    if !script.is_file() {
        return Err(format!(
            "no etbench-runner for {target}: build one for that triple and set `runner` in the profile"
        ));
    }
    // Two etbench processes (or test threads) needing the same build wait for one another instead of racing.
    let lock_path = target_dir.join(format!(".etbench-build-{target}.lock"));
    let _lock = super::lock::exclusive(&lock_path, "build lock", "another etbench is building this runner")?;
    if ready(&path) {
        return Ok(path);
    }
    let mut args = vec!["--target", target];
    if what == Built::Runner && target == ANDROID {
        args.push("--ndk");
    }
    let shown = format!("scripts/build-runner.sh {}", args.join(" "));
    crate::say!(
        "etbench: building the {} for {target} ({shown})",
        if what == Built::Bundle { "runner bundle" } else { "etbench-runner" }
    );
    let status = std::process::Command::new("bash")
        .arg(&script)
        .args(&args)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target_dir)
        // etbench's stdout is for results: the build talks on stderr.
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let built_file = if what == Built::Bundle { path.join("MANIFEST") } else { path.clone() };
    if status.success() && built_file.is_file() {
        // A no-op build (nothing changed) keeps the old mtime: mark it current so it is not rebuilt every run.
        if let Ok(f) = std::fs::File::options().append(true).open(&built_file) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Ok(path)
    } else {
        Err(format!("no etbench-runner for {target}: `{shown}` failed ({status}); see its output above"))
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

    #[test]
    fn the_mount_holding_a_path_is_the_longest_and_last_mounted() {
        let mounts = "/dev/vda / ext4 ro,relatime 0 0\n/dev/vda /data ext4 rw,relatime 0 0\n\
            tmpfs /storage/emulated tmpfs rw,nosuid,nodev,noexec 0 0\ntmpfs /data/my\\040dir tmpfs rw 0 0\n\
            fuse /data/my\\040dir fuse rw,noexec 0 0\n";
        let m = mount_of("/storage/emulated/0/etbench", mounts).unwrap();
        assert_eq!(
            (m.point.as_str(), m.fstype.as_str(), m.options.contains(&"noexec".to_owned())),
            ("/storage/emulated", "tmpfs", true)
        );
        assert_eq!(mount_of("/data/local/tmp/etbench", mounts).unwrap().point, "/data");
        assert_eq!(mount_of("/system/bin", mounts).unwrap().point, "/");
        assert_eq!(mount_of("/data/my dir/x", mounts).unwrap().fstype, "fuse");
        assert_eq!(mount_of("/database", mounts).unwrap().point, "/", "a prefix of the name is not a parent");
    }
}
