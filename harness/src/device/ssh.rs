//! Linux boards over the system `ssh`, so the user's `~/.ssh/config`, agent and jump hosts all apply. One
//! ControlMaster connection per device carries every command and transfer (a fresh login costs ~300 ms, a
//! multiplexed command ~15 ms); AES-GCM is preferred (the fastest cipher on CPUs with AES instructions); host keys are
//! always verified (`host_key_checking = "accept-new"` trusts a new board on first use).
//!
//! Pushes stream the file into `cat >> PART` over the master connection: the channel is integrity-protected, so
//! a byte count check after the transfer proves completeness, and an interrupted push resumes from the part's size.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::transport::{command_error, quote, Output, Transport, TransportError};
use crate::device::config::{HostKeyChecking, SshProfile};

/// Preferred ciphers, fastest first; ssh picks the first the server also offers.
const CIPHERS: &str =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr";

pub struct SshTransport {
    device: String,
    profile: SshProfile,
    control_path: PathBuf,
    connected: Mutex<bool>,
}

impl SshTransport {
    pub fn new(device: &str, profile: SshProfile) -> Self {
        let dir = control_dir();
        let _ = std::fs::create_dir_all(&dir);
        // One master per device *and* connection settings: ssh's own %C (host, port, user) would let a profile
        // with another key or known_hosts ride on a master authenticated for a different profile.
        // ETBENCH_SSH_CONFIG (path and contents) is a connection setting too.
        let config = std::env::var_os("ETBENCH_SSH_CONFIG").filter(|c| !c.is_empty());
        let config_text = config.as_ref().and_then(|c| std::fs::read(c).ok()).unwrap_or_default();
        let key = format!("{device}\n{profile:?}\n{config:?}\n{}", String::from_utf8_lossy(&config_text));
        let digest = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(key.as_bytes()));
        let name: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
        Self { device: device.into(), profile, control_path: dir.join(name), connected: Mutex::new(false) }
    }

    fn destination(&self) -> String {
        match &self.profile.user {
            Some(user) => format!("{user}@{}", self.profile.host),
            None => self.profile.host.clone(),
        }
    }

    /// `ssh` with the options every invocation shares (control socket, cipher, host key policy, batch mode).
    fn base(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        // A config file of the user's choosing instead of ~/.ssh/config (identities, known hosts, jump hosts for
        // `--device ssh:HOST` boards that have no profile).
        if let Some(config) = std::env::var_os("ETBENCH_SSH_CONFIG").filter(|c| !c.is_empty()) {
            cmd.arg("-F").arg(config);
        }
        let checking = match self.profile.host_key_checking {
            HostKeyChecking::Yes => "yes",
            HostKeyChecking::AcceptNew => "accept-new",
        };
        let timeout = self.profile.connect_timeout_s.unwrap_or(10);
        for opt in [
            format!("ControlPath={}", self.control_path.display()),
            format!("Ciphers={CIPHERS}"),
            format!("StrictHostKeyChecking={checking}"),
            format!("ConnectTimeout={timeout}"),
            "BatchMode=yes".into(),
            "ServerAliveInterval=15".into(),
            "LogLevel=ERROR".into(),
        ] {
            cmd.arg("-o").arg(opt);
        }
        if let Some(port) = self.profile.port {
            cmd.arg("-p").arg(port.to_string());
        }
        if let Some(identity) = &self.profile.identity {
            cmd.arg("-i").arg(identity).arg("-o").arg("IdentitiesOnly=yes");
        }
        for opt in &self.profile.options {
            cmd.arg("-o").arg(opt);
        }
        cmd
    }

    fn master_alive(&self) -> bool {
        self.base("ssh")
            .args(["-O", "check"])
            .arg(self.destination())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// Where control sockets live: short, private to this user.
fn control_dir() -> PathBuf {
    let uid = unsafe {
        // Safety: getuid has no preconditions and cannot fail.
        libc::getuid()
    };
    std::env::temp_dir().join(format!("etbench-ssh-{uid}"))
}

impl Transport for SshTransport {
    fn device(&self) -> &str {
        &self.device
    }

    fn address(&self) -> String {
        format!("{}:{}", self.destination(), self.profile.port.unwrap_or(22))
    }

    fn connect(&self) -> Result<(), TransportError> {
        let mut connected = self.connected.lock().expect("connect lock");
        if *connected && self.master_alive() {
            return Ok(());
        }
        if !self.master_alive() {
            // -f -N: authenticate in the foreground (errors come back here), then keep the master in the background.
            let out = self
                .base("ssh")
                .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=120", "-f", "-N"])
                .arg(self.destination())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .output()
                .map_err(|e| TransportError::Other {
                    device: self.device.clone(),
                    message: format!("cannot run ssh: {e}; install openssh-client"),
                })?;
            let out = Output {
                stdout: Vec::new(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                code: out.status.code(),
            };
            if !out.success() {
                return Err(self.classify("ssh connection", &out));
            }
        }
        *connected = true;
        Ok(())
    }

    fn command(&self, script: &str) -> Command {
        let mut cmd = self.base("ssh");
        cmd.args(["-o", "ControlMaster=no", "-T"]).arg(self.destination()).arg(script);
        cmd
    }

    fn check_transport(&self, out: &Output) -> Result<(), TransportError> {
        // 255 is ssh's own failure; a remote command's exit code never reaches 255 through a POSIX shell here.
        if out.code == Some(255) {
            return Err(self.classify("ssh", out));
        }
        Ok(())
    }

    fn classify(&self, what: &str, out: &Output) -> TransportError {
        let (device, address, detail) = (self.device.clone(), self.address(), out.stderr.trim().replace('\n', " | "));
        let err = &out.stderr;
        // Only ssh's own failures (exit 255) are about the connection; a remote command's stderr is its own.
        if out.code.is_some_and(|c| c != 255) {
            command_error(&self.device, what, out)
        } else if err.contains("Host key verification failed") || err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            TransportError::HostKey { device, address, detail }
        } else if err.contains("Permission denied") || err.contains("Too many authentication failures") {
            TransportError::AuthRefused { device, address, detail }
        } else if [
            "Connection refused",
            "No route to host",
            "timed out",
            "Could not resolve",
            "Network is unreachable",
            "Connection closed",
            "Connection reset",
        ]
        .iter()
        .any(|p| err.contains(p))
        {
            TransportError::Unreachable { device, address, detail }
        } else {
            command_error(&self.device, what, out)
        }
    }

    fn push(
        &self,
        local: &Path,
        remote: &str,
        offset: u64,
        progress: &indicatif::ProgressBar,
    ) -> Result<(), TransportError> {
        self.connect()?;
        let io = |e: std::io::Error| TransportError::Other {
            device: self.device.clone(),
            message: format!("reading {}: {e}", local.display()),
        };
        let mut file = std::fs::File::open(local).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let redirect = if offset > 0 { ">>" } else { ">" };
        let mut child = self
            .command(&format!("cat {redirect} {}", quote(remote)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TransportError::Other {
                device: self.device.clone(),
                message: format!("cannot run ssh: {e}"),
            })?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut buf = vec![0u8; 1 << 20];
        let mut sent = Ok(());
        progress.set_position(offset);
        let mut interrupted = false;
        loop {
            if crate::progress::interrupted() {
                interrupted = true;
                break;
            }
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            if let Err(e) = stdin.write_all(&buf[..n]) {
                sent = Err(e);
                break;
            }
            progress.inc(n as u64);
        }
        drop(stdin);
        let out = child
            .wait_with_output()
            .map_err(|e| TransportError::Other { device: self.device.clone(), message: e.to_string() })?;
        let out = Output {
            stdout: Vec::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        };
        if interrupted {
            let next = "what arrived is kept and the next push resumes from there".to_owned();
            return Err(TransportError::Interrupted {
                device: self.device.clone(),
                file: local.display().to_string(),
                next,
            });
        }
        if !out.success() {
            return Err(self.classify(&format!("push of {} to {remote}", local.display()), &out));
        }
        sent.map_err(|e| TransportError::Other {
            device: self.device.clone(),
            message: format!("push of {} interrupted: {e}", local.display()),
        })
    }

    fn can_resume(&self) -> bool {
        true
    }

    fn pull(&self, remote: &str, local: &Path) -> Result<(), TransportError> {
        self.connect()?;
        let file = std::fs::File::create(local).map_err(|e| TransportError::Other {
            device: self.device.clone(),
            message: format!("{}: {e}", local.display()),
        })?;
        let out = self
            .command(&format!("cat -- {}", quote(remote)))
            .stdin(Stdio::null())
            .stdout(file)
            .output()
            .map_err(|e| TransportError::Other { device: self.device.clone(), message: e.to_string() })?;
        let out = Output {
            stdout: Vec::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        };
        if out.success() {
            Ok(())
        } else {
            Err(self.classify(&format!("pull of {remote}"), &out))
        }
    }
}
