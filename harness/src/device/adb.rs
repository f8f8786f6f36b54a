//! Android devices over the system `adb` CLI (`-s SERIAL`, the server port from the profile or
//! `ANDROID_ADB_SERVER_PORT`, or a server on another host: `ADB_SERVER_SOCKET=tcp:HOST:PORT` from `[adb] server`). Commands use `adb shell`, whose shell protocol v2 keeps stdout and stderr apart and
//! returns the remote exit code. `adb push` cannot append, so an interrupted push restarts from zero (into a part
//! file, never the final name).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Mutex;
use std::time::Duration;

use super::transport::{command_error, quote, Output, Transport, TransportError};
use crate::device::config::AdbProfile;

pub struct AdbTransport {
    device: String,
    profile: AdbProfile,
    connected: Mutex<bool>,
}

/// What `adb -s X get-state` and friends say when the device is not usable, with the fix.
fn state_problem(stderr: &str) -> Option<(&'static str, &'static str)> {
    if stderr.contains("unauthorized") {
        Some((
            "unauthorized",
            "unlock the phone and accept the \"Allow USB debugging\" prompt for this computer, then retry",
        ))
    } else if stderr.contains("offline") {
        Some(("offline", "reconnect it (`adb disconnect SERIAL; adb connect SERIAL` for network devices, or replug USB) and check that adbd runs"))
    } else if stderr.contains("not found") || stderr.contains("no devices") {
        Some((
            "not found",
            "check the serial in the profile against `adb devices` (and `adb connect HOST:PORT` for network devices)",
        ))
    } else if stderr.contains("cannot connect")
        || stderr.contains("Connection refused")
        || stderr.contains("failed to connect")
    {
        Some(("unreachable", "check the address and that adbd listens there"))
    } else {
        None
    }
}

impl AdbTransport {
    pub fn new(device: &str, profile: AdbProfile) -> Self {
        Self { device: device.into(), profile, connected: Mutex::new(false) }
    }

    /// `adb` aimed at this device's server and serial.
    fn adb(&self) -> Command {
        let mut cmd = self.adb_plain();
        cmd.arg("-s").arg(&self.profile.serial);
        cmd
    }

    /// `adb` aimed at this device's server.
    fn adb_plain(&self) -> Command {
        adb_on(&self.profile.server_key())
    }

    fn output(&self, mut cmd: Command) -> Result<Output, TransportError> {
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| self.cannot_run(e))?;
        Ok(Output {
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        })
    }

    /// [`Self::output`] for a long command (a multi-GB push): killed, and `None`, when etbench is interrupted.
    fn output_unless_interrupted(&self, mut cmd: Command) -> Result<Option<Output>, TransportError> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.cannot_run(e))?;
        loop {
            if crate::progress::interrupted() {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(self.cannot_run(e)),
            }
        }
        // It has exited: what it printed (a line or two) is waiting in the pipes.
        let out = child.wait_with_output().map_err(|e| self.cannot_run(e))?;
        Ok(Some(Output {
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        }))
    }

    fn cannot_run(&self, e: std::io::Error) -> TransportError {
        TransportError::Other {
            device: self.device.clone(),
            message: format!(
                "cannot run adb: {e}; install it (Debian: apt-get install adb, or Android platform-tools)"
            ),
        }
    }

    fn get_state(&self) -> Result<Output, TransportError> {
        let mut cmd = self.adb();
        cmd.arg("get-state");
        self.output(cmd)
    }

    fn is_network_serial(&self) -> bool {
        self.profile.serial.contains(':')
    }
}

impl Transport for AdbTransport {
    fn device(&self) -> &str {
        &self.device
    }

    fn address(&self) -> String {
        format!("adb {}{}", self.profile.serial, server_label(&self.profile.server_key()))
    }

    fn connect(&self) -> Result<(), TransportError> {
        let mut connected = self.connected.lock().expect("connect lock");
        if *connected {
            return Ok(());
        }
        let mut out = self.get_state()?;
        if !out.success() && self.is_network_serial() && out.stderr.contains("not found") {
            let mut cmd = self.adb_plain();
            cmd.arg("connect").arg(&self.profile.serial);
            self.output(cmd)?;
            // A fresh connection is "offline" until its handshake is done.
            for _ in 0..20 {
                out = self.get_state()?;
                if !(out.stderr.contains("offline") || out.stdout_text().trim() == "offline") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        if out.success() && out.stdout_text().trim() == "device" {
            *connected = true;
            return Ok(());
        }
        let text = format!("{} {}", out.stderr, out.stdout_text());
        Err(self.classify("adb get-state", &Output { stderr: text, ..out }))
    }

    fn command(&self, script: &str) -> Command {
        let mut cmd = self.adb();
        // adb joins its arguments with spaces for the device shell: one pre-quoted script is passed as is.
        cmd.arg("shell").arg(script);
        cmd
    }

    fn check_transport(&self, out: &Output) -> Result<(), TransportError> {
        let first = out.stderr.lines().next().unwrap_or("");
        if out.code != Some(0) && (first.starts_with("error: ") || first.starts_with("adb: error")) {
            return Err(self.classify("adb", out));
        }
        Ok(())
    }

    fn classify(&self, what: &str, out: &Output) -> TransportError {
        if let (Some(socket), true) = (&self.profile.server, out.stderr.contains("cannot connect to daemon")) {
            return TransportError::Other {
                device: self.device.clone(),
                message: format!(
                    "the adb server {socket} (profile key [adb] server) does not answer: start it on its host (`adb -a -P PORT server nodaemon`) or open the ssh tunnel to it (`ssh -N -L PORT:127.0.0.1:5037 HOST`), then retry"
                ),
            };
        }
        match state_problem(&out.stderr) {
            Some((state, fix)) => TransportError::AdbState {
                device: self.device.clone(),
                serial: self.profile.serial.clone(),
                state: state.into(),
                fix: fix.replace("SERIAL", &self.profile.serial),
            },
            None => command_error(&self.device, what, out),
        }
    }

    fn lost(&self) -> Option<String> {
        let out = self.get_state().ok()?;
        if out.success() && out.stdout_text().trim() == "device" {
            return None;
        }
        *self.connected.lock().expect("connect lock") = false;
        let state = state_problem(&out.stderr).map(|(state, _)| state).unwrap_or("gone");
        let serial = &self.profile.serial;
        let retry = if self.is_network_serial() { "; etbench runs `adb connect` before its next run" } else { "" };
        Some(format!(
            "etbench: the adb device {serial} disconnected during the run (now {state}): reconnect with `adb connect {serial}` (network) or over USB (replug the cable, unlock the phone), check `adb devices`, then re-run what failed{retry}"
        ))
    }

    fn push(
        &self,
        local: &Path,
        remote: &str,
        offset: u64,
        progress: &indicatif::ProgressBar,
    ) -> Result<(), TransportError> {
        self.connect()?;
        if offset > 0 {
            // adb push cannot append; the caller removes the part file and restarts.
            return Err(TransportError::Other {
                device: self.device.clone(),
                message: "adb push cannot resume".into(),
            });
        }
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let out = std::thread::scope(|scope| {
            // `adb push` shows no progress through a pipe: poll the part's size, only when the bar is visible.
            let visible = !progress.is_hidden();
            scope.spawn(move || {
                if !visible {
                    return;
                }
                let stat = format!("stat -c %s -- {} 2>/dev/null", quote(remote));
                while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(Duration::from_millis(500)) {
                    if let Ok(n) = self.run(&stat).map(|o| o.stdout_text()) {
                        if let Ok(n) = n.trim().parse::<u64>() {
                            progress.set_position(n);
                        }
                    }
                }
            });
            let mut cmd = self.adb();
            cmd.arg("push").arg(local).arg(remote);
            let out = self.output_unless_interrupted(cmd);
            drop(done);
            out
        })?;
        let Some(out) = out else {
            let next = "the next push starts it again".to_owned();
            return Err(TransportError::Interrupted {
                device: self.device.clone(),
                file: local.display().to_string(),
                next,
            });
        };
        if out.success() {
            progress.set_position(std::fs::metadata(local).map(|m| m.len()).unwrap_or(0));
            Ok(())
        } else {
            let mut out = out;
            out.stderr = format!("{}{}", out.stderr, out.stdout_text());
            Err(self.classify(&format!("adb push of {} to {remote}", local.display()), &out))
        }
    }

    fn can_resume(&self) -> bool {
        false
    }

    fn pull(&self, remote: &str, local: &Path) -> Result<(), TransportError> {
        self.connect()?;
        let mut cmd = self.adb();
        cmd.arg("pull").arg(remote).arg(local);
        let out = self.output(cmd)?;
        if out.success() {
            Ok(())
        } else {
            Err(self.classify(&format!("adb pull of {remote}"), &out))
        }
    }
}

/// `adb` aimed at a server: a local port (`-P`), or a server on another host (`ADB_SERVER_SOCKET=tcp:HOST:PORT`),
/// or the default one.
fn adb_on((port, socket): &(Option<u16>, Option<String>)) -> Command {
    let mut cmd = Command::new("adb");
    if let Some(port) = port {
        cmd.arg("-P").arg(port.to_string());
    }
    if let Some(socket) = socket {
        cmd.env("ADB_SERVER_SOCKET", socket);
    }
    cmd
}

/// How a server is named after a device's address: ` (server port 15037)`, ` (server tcp:lab2:5037)`, or nothing.
pub fn server_label((port, socket): &(Option<u16>, Option<String>)) -> String {
    match (port, socket) {
        (_, Some(socket)) => format!(" (server {socket})"),
        (Some(port), None) => format!(" (server port {port})"),
        (None, None) => String::new(),
    }
}

/// `adb devices` on a server: (serial, state) pairs.
pub fn list_devices(server: &(Option<u16>, Option<String>)) -> Vec<(String, String)> {
    let mut cmd = adb_on(server);
    let Ok(out) = cmd.arg("devices").stdin(Stdio::null()).stderr(Stdio::null()).output() else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip_while(|l| !l.starts_with("List of devices"))
        .skip(1)
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}
