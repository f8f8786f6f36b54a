//! The device lab for integration tests: `scripts/lab/start.sh` (ssh boards in network namespaces, an aarch64 board,
//! a private adb server with adbd-standin devices), started as root by `scripts/test.sh` before `cargo test` and
//! stopped by it afterwards. The tests only probe it ([`up`]); they never start it, so they leave nothing of it
//! behind. A test that needs it fails when it is not running, saying how to start it ([`require`]), unless
//! `ETBENCH_SKIP_LAB=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::*;

pub const LAB: &str = "/tmp/etbench-lab";

/// The lab's private adb server (scripts/lab/start.sh `ADB_PORT`; the lab profiles' `server_port`).
pub const ADB_PORT: u16 = 15037;

/// How to get the lab, for the messages of [`up`] and its kin.
const START: &str = "as root, scripts/lab/start.sh starts it and scripts/lab/stop.sh stops it (scripts/test.sh does \
                     both around the suite)";

/// Whether the process whose id is in `pidfile` is alive.
fn alive(pidfile: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(pidfile) else { return false };
    // Safety: kill with signal 0 only checks that the process exists.
    text.trim().parse::<i32>().is_ok_and(|pid| pid > 0 && unsafe { libc::kill(pid, 0) } == 0)
}

/// Whether the lab is running here, probed as scripts/lab/start.sh decides it is already up: root, its `up` file,
/// its sshd and adb processes alive, and its adb server answering on [`ADB_PORT`]. `Err` says what is missing.
fn probe() -> Result<(), String> {
    let uid = unsafe { libc::getuid() };
    if uid != 0 {
        return Err(format!("it needs root (network namespaces, sshd, tmpfs mounts) and this is uid {uid}; {START}"));
    }
    if !Path::new(&format!("{LAB}/up")).is_file() {
        return Err(format!("it is not running ({LAB}/up does not exist); {START}"));
    }
    for (pidfile, what) in [
        ("board1/sshd.pid", "board1's sshd"),
        ("board2/sshd.pid", "board2's sshd"),
        ("adb-server.pid", "its adb server"),
        ("adb1.pid", "the adbd stand-in adb1"),
    ] {
        if !alive(&format!("{LAB}/{pidfile}")) {
            return Err(format!("{what} is not running ({LAB}/{pidfile}): the lab is half up: restart it; {START}"));
        }
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], ADB_PORT));
    if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_err() {
        return Err(format!("its adb server does not answer on {addr}: restart the lab; {START}"));
    }
    Ok(())
}

/// Whether the lab is up (probed once per test binary). Not up, the calling test fails saying why and how to start
/// it, or with `ETBENCH_SKIP_LAB=1` says SKIPPED and gets `false`: `if !up() { return; }`.
#[must_use]
#[track_caller]
pub fn up() -> bool {
    static STATE: OnceLock<Result<(), String>> = OnceLock::new();
    require("the device lab (scripts/lab/start.sh)", STATE.get_or_init(probe).clone())
}

/// Host-side caches (hash cache, device locks) shared by every test of this binary.
pub fn cache_dir() -> PathBuf {
    let dir = repo().join("target/tmp/etbench-devices-test-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `etbench` with the lab's profiles directory and the shared cache. Its default adb server is the lab's
/// ([`ADB_PORT`]), so nothing it runs asks 5037, where adb would start a server of its own that outlives the tests;
/// a test may point it at another server it owns ([`SecondAdbServer`]).
pub fn etbench_lab(devices_dir: &str) -> Command {
    let mut cmd = etbench();
    cmd.env("ETBENCH_DEVICES_DIR", repo().join(devices_dir))
        .env("ETBENCH_CACHE_DIR", cache_dir())
        .env("ANDROID_ADB_SERVER_PORT", ADB_PORT.to_string());
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

/// The aarch64 runner (`scripts/lab/setup.sh` builds it: `scripts/build-runner.sh --target
/// aarch64-unknown-linux-gnu`), for the aarch64 board and the wrong-architecture fault; `false` as [`require`] says.
#[must_use]
#[track_caller]
pub fn aarch64_runner() -> bool {
    let path = repo().join("target/aarch64-unknown-linux-gnu/release/etbench-runner");
    let check = if path.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{} does not exist; build it with `scripts/build-runner.sh --target aarch64-unknown-linux-gnu` (needs \
             `rustup target add aarch64-unknown-linux-gnu` and g++-aarch64-linux-gnu; scripts/lab/setup.sh does both)",
            path.display()
        ))
    };
    require("the aarch64 runner", check)
}

/// The lab's aarch64 board `lab-arm1` (qemu-user through a private binfmt_misc) is up, with the aarch64 runner.
#[must_use]
#[track_caller]
pub fn arm1_up() -> bool {
    if !up() {
        return false;
    }
    let check = if alive(&format!("{LAB}/arm1/sshd.pid")) {
        Ok(())
    } else {
        Err(format!(
            "the lab has no arm1 board ({LAB}/arm1/sshd.pid: not running); it needs qemu-user-static and \
             g++-aarch64-linux-gnu (`bash scripts/lab/setup.sh`), then the lab restarted"
        ))
    };
    require("the lab's aarch64 board lab-arm1", check) && aarch64_runner()
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

/// The lab phone (`lab-phone`, a STAND-IN: adbd-standin --chroot, see devices/lab-phone.toml) is up; `false` as
/// [`require`] says.
#[must_use]
#[track_caller]
pub fn phone_up() -> bool {
    if !up() {
        return false;
    }
    let check = if alive(&format!("{LAB}/phone.pid")) {
        Ok(())
    } else {
        Err(format!(
            "the lab has no lab-phone ({LAB}/phone.pid: not running); it needs qemu-user-static and \
             busybox-static:arm64 (`bash scripts/lab/setup.sh`), then the lab restarted"
        ))
    };
    require("the lab phone lab-phone", check)
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
