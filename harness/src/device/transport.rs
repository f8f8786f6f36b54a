//! How etbench reaches a device: one [`Transport`] trait over the system `ssh`/`scp`, the system `adb` CLI and local
//! child processes. A transport runs shell scripts (split stdout/stderr, exit code), pushes and pulls files and
//! reports free space; [`RemoteDevice`] builds the benchmark device on top of it (runner and model push, probing).
//!
//! Every path or name placed in a remote script goes through [`quote`]; remote paths are absolute and commands get
//! `--` before operands, so spaces, quotes, `;`, `$()` and a leading `-` are taken literally.

use std::path::Path;
use std::process::{Command, Stdio};

/// What a remote command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A transport failure, named after the device, with what the remote side said and how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("device {device}: {address} is unreachable: {detail}; check that it is powered, on the network, and that the address/port in its profile are right")]
    Unreachable { device: String, address: String, detail: String },
    #[error("device {device}: ssh login refused for {address}: {detail}; check `identity` in the profile, your ssh-agent, and the board's authorized_keys")]
    AuthRefused { device: String, address: String, detail: String },
    #[error("device {device}: the host key of {address} is not trusted (unknown or changed): {detail}; verify it and add it to known_hosts (e.g. `ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts`), or set host_key_checking = \"accept-new\" in the profile to trust it on first use")]
    HostKey { device: String, address: String, detail: String },
    #[error("device {device}: adb device {serial} is {state}; {fix}")]
    AdbState { device: String, serial: String, state: String, fix: String },
    #[error("device {device}: not enough space in {dir} for {file}: need {needed_bytes} bytes, {available_bytes} available; free space on the device or point work_dir at a larger filesystem")]
    DiskFull { device: String, dir: String, file: String, needed_bytes: u64, available_bytes: u64 },
    #[error("device {device}: {what} failed ({code}): {stderr}")]
    Command { device: String, what: String, code: String, stderr: String },
    #[error("device {device}: the push of {file} was stopped by an interrupt (Ctrl-C or SIGTERM); {next}")]
    Interrupted { device: String, file: String, next: String },
    #[error("device {device}: {message}")]
    Other { device: String, message: String },
}

/// A way to run commands on a device and move files to and from it.
pub trait Transport: Send + Sync {
    /// The device name (for messages).
    fn device(&self) -> &str;
    /// Where it is, for listings and messages (`bench@198.18.0.11:22`, `adb 127.0.0.1:7101`).
    fn address(&self) -> String;
    /// Connects (or checks the connection) once; later commands reuse it.
    fn connect(&self) -> Result<(), TransportError>;
    /// A local command that runs `script` in the device's shell (stdin/stdout/stderr are the caller's to set).
    fn command(&self, script: &str) -> Command;
    /// Copies `local` (from byte `offset` on) into `remote`, appending when `offset > 0`.
    fn push(
        &self,
        local: &Path,
        remote: &str,
        offset: u64,
        progress: &indicatif::ProgressBar,
    ) -> Result<(), TransportError>;
    /// Whether [`Transport::push`] can resume (append from an offset) after an interruption.
    fn can_resume(&self) -> bool;
    /// Copies a device file to the host.
    fn pull(&self, remote: &str, local: &Path) -> Result<(), TransportError>;
    /// Turns a failed command into the most specific error (unreachable, auth, host key, device state).
    fn classify(&self, what: &str, out: &Output) -> TransportError;
    /// Asked after a runner ended: `Some(what happened and how to fix it)` when the device itself is gone (the next
    /// [`Transport::connect`] then checks the connection again). The default knows no such case.
    fn lost(&self) -> Option<String> {
        None
    }

    /// Runs a script and collects its output; transport failures become errors, the remote exit code does not.
    fn run(&self, script: &str) -> Result<Output, TransportError> {
        let out = self.command(script).stdin(Stdio::null()).output().map_err(|e| TransportError::Other {
            device: self.device().into(),
            message: format!("cannot start the transport: {e}"),
        })?;
        let out = Output {
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        };
        self.check_transport(&out)?;
        Ok(out)
    }

    /// An error when the transport itself (not the remote command) failed; the default trusts every exit code.
    fn check_transport(&self, _out: &Output) -> Result<(), TransportError> {
        Ok(())
    }

    /// Runs a script that must succeed; `what` names it in the error.
    fn run_ok(&self, what: &str, script: &str) -> Result<Output, TransportError> {
        let out = self.run(script)?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.classify(what, &out))
        }
    }

    /// Free bytes in the filesystem holding `dir` (POSIX `df -P`, 1024-byte blocks).
    fn free_bytes(&self, dir: &str) -> Result<u64, TransportError> {
        let out = self.run_ok("df", &format!("df -Pk {} | tail -n 1", quote(dir)))?;
        let text = out.stdout_text();
        text.split_whitespace().nth(3).and_then(|kb| kb.parse::<u64>().ok()).map(|kb| kb * 1024).ok_or_else(|| {
            TransportError::Other {
                device: self.device().into(),
                message: format!("cannot parse `df` output: {text:?}"),
            }
        })
    }
}

/// Quotes one word for a POSIX shell (toybox and busybox sh included).
pub fn quote(word: &str) -> String {
    shlex::try_quote(word).map(|q| q.into_owned()).unwrap_or_else(|_| {
        // Only a NUL byte is unquotable; no path can hold one, so drop it rather than fail.
        shlex::try_quote(&word.replace('\0', "")).map(|q| q.into_owned()).unwrap_or_default()
    })
}

/// The generic error for a failed command: exit code and the tail of stderr.
pub fn command_error(device: &str, what: &str, out: &Output) -> TransportError {
    let tail: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    TransportError::Command {
        device: device.into(),
        what: what.into(),
        code: out.code.map(|c| format!("exit code {c}")).unwrap_or_else(|| "killed".into()),
        stderr: tail[tail.len().saturating_sub(4)..].join(" | "),
    }
}

/// A byte progress bar on stderr (hidden when stderr is not a terminal, so logs stay clean).
pub fn progress_bar(total: u64, label: &str) -> indicatif::ProgressBar {
    crate::progress::bytes(total, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_survives_a_real_shell() {
        for word in
            ["plain", "with space", "it's", "a\"b", "x; rm -rf /", "$(touch pwned)", "`id`", "-n", "", "tab\tnew\nline"]
        {
            let out =
                std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", quote(word))).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), word, "{word:?} quoted as {}", quote(word));
        }
    }
}
