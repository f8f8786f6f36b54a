//! The device lab for integration tests: `scripts/lab/start.sh` (ssh boards in network namespaces, an aarch64 board,
//! a private adb server with adbd-standin devices), started once per test binary. It needs root; without root the
//! device tests say so and return.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::*;

pub const LAB: &str = "/tmp/etbench-lab";

/// Starts the lab (idempotent). `false` when this machine cannot host it (not root).
pub fn up() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    *UP.get_or_init(|| {
        if unsafe { libc::getuid() } != 0 {
            eprintln!("SKIPPED: the device lab needs root (network namespaces, sshd); run scripts/test.sh as root");
            return false;
        }
        let out = Command::new("bash")
            .arg(repo().join("scripts/lab/start.sh"))
            .env("ADBD_STANDIN", standin())
            .output()
            .expect("running scripts/lab/start.sh");
        assert!(
            out.status.success(),
            "lab start failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr_of(&out)
        );
        true
    })
}

/// The adbd stand-in (crate `etbench-lab`, a test tool): built next to `etbench` by `cargo build --workspace`.
fn standin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_etbench")).with_file_name("adbd-standin");
    assert!(path.is_file(), "{} missing: cargo build -p etbench-lab", path.display());
    path
}

/// Host-side caches (hash cache, device locks) shared by every test of this binary.
pub fn cache_dir() -> PathBuf {
    let dir = repo().join("target/tmp/etbench-devices-test-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `etbench` with the lab's profiles directory and the shared cache.
pub fn etbench_lab(devices_dir: &str) -> Command {
    let mut cmd = etbench();
    cmd.env("ETBENCH_DEVICES_DIR", repo().join(devices_dir)).env("ETBENCH_CACHE_DIR", cache_dir());
    cmd
}

/// `etbench run` on `devices` with few iterations; returns the output and the results directory.
pub fn run_on(devices_dir: &str, devices: &[&str], models: &[&Path], extra: &[&str]) -> (Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = etbench_lab(devices_dir);
    cmd.args(["run", "--warmup", "0", "--format", "none", "--out"]).arg(out.path());
    if !extra.contains(&"--iters") {
        cmd.args(["--iters", "2"]);
    }
    for d in devices {
        cmd.args(["--device", d]);
    }
    for m in models {
        cmd.arg("--model").arg(m);
    }
    cmd.args(extra);
    (cmd.output().unwrap(), out)
}

/// The aarch64 runner, when this machine could build it (`rustup target add aarch64-unknown-linux-gnu`).
pub fn aarch64_runner() -> Option<PathBuf> {
    let path = repo().join("target/aarch64-unknown-linux-gnu/release/etbench-runner");
    if path.is_file() {
        return Some(path);
    }
    eprintln!("SKIPPED: no aarch64 runner; build it with scripts/build-runner.sh --target aarch64-unknown-linux-gnu");
    None
}

/// Files under `dir` whose name is exactly `name` (for shell-injection checks).
pub fn find_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == name) {
            found.push(p.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(find_named(&p, name));
        }
    }
    found
}

/// The lab phone (`lab-phone`, a STAND-IN: adbd-standin --chroot, see devices/lab-phone.toml) is up; says why not.
pub fn phone_up() -> bool {
    if !up() {
        return false;
    }
    if !Path::new(&format!("{LAB}/phone.pid")).is_file() {
        eprintln!(
            "SKIPPED: the lab has no lab-phone (needs qemu-user-static and busybox-static:arm64: scripts/lab/setup.sh)"
        );
        return false;
    }
    true
}

/// Tests that change the lab phone's state (files on it, its connection, its stand-in sysfs) take this lock.
pub static PHONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The host path of a file under the lab phone's `/data` (bind-mounted from the lab directory).
pub fn phone_data(device_path: &str) -> PathBuf {
    let rel = device_path.strip_prefix("/data/").expect("a path under /data");
    PathBuf::from(format!("{LAB}/phone/data")).join(rel)
}

/// The lab phone's `/sdcard` (noexec, as on Android): `scripts/lab/phone/sdcard.sh`, idempotent, so a lab started
/// by an older start.sh gets it too.
pub fn phone_sdcard() {
    let out = Command::new("bash").arg(repo().join("scripts/lab/phone/sdcard.sh")).output().unwrap();
    assert!(out.status.success(), "scripts/lab/phone/sdcard.sh: {}", stderr_of(&out));
}

/// Whether a runner started from the bundle on the lab phone is running now (seen in the host's /proc: the phone's
/// processes are this host's, through qemu-user).
pub fn phone_runner_running() -> bool {
    command_lines()
        .iter()
        .any(|text| text.contains("--library-path") && text.contains("/data/local/tmp/etbench/models/"))
}

/// The Android runner bundle etbench uses for `lab-phone` (built by etbench itself when missing).
pub fn android_bundle() -> PathBuf {
    repo().join("target/runner-bundles/aarch64-linux-android")
}

/// A second real adb server of its own (a free port, its own HOME), as on another host or a machine with one phone;
/// stopped when dropped. Reached with `ANDROID_ADB_SERVER_PORT=port` or `ADB_SERVER_SOCKET=tcp:127.0.0.1:port`.
pub struct SecondAdbServer {
    child: std::process::Child,
    pub port: u16,
    _home: tempfile::TempDir,
}

impl SecondAdbServer {
    pub fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        // A free port outside 5555–5585 (the server probes those as emulators).
        let port = loop {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            if !(5555..=5585).contains(&p) {
                break p;
            }
        };
        let child = std::process::Command::new("adb")
            .args(["-L", &format!("tcp:localhost:{port}"), "server", "nodaemon"])
            .env("HOME", home.path())
            .env("ANDROID_ADB_SERVER_PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("adb (Debian: apt-get install adb)");
        let server = Self { child, port, _home: home };
        assert!(
            wait_until(std::time::Duration::from_secs(20), || server.adb(&["devices"]).status.success()),
            "the second adb server did not start"
        );
        server
    }

    /// One that sees only the lab phone (`adb connect 127.0.0.1:17104`).
    pub fn with_lab_phone() -> Self {
        let server = Self::start();
        let connect = server.adb(&["connect", "127.0.0.1:17104"]);
        assert!(
            String::from_utf8_lossy(&connect.stdout).contains("connected"),
            "{}",
            String::from_utf8_lossy(&connect.stdout)
        );
        server
    }

    pub fn adb(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("adb")
            .env("ADB_SERVER_SOCKET", format!("tcp:127.0.0.1:{}", self.port))
            .args(args)
            .output()
            .unwrap()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SecondAdbServer {
    fn drop(&mut self) {
        self.stop();
    }
}
