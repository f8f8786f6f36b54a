//! This host as a transport: scripts run under `/bin/sh`, pushes are file copies. Used for a `transport = "local"`
//! profile with a `work_dir` (runner and models staged into it like on a board), and to test the push cache.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use super::transport::{command_error, Output, Transport, TransportError};

pub struct LocalTransport {
    device: String,
}

impl LocalTransport {
    pub fn new(device: &str) -> Self {
        Self { device: device.into() }
    }

    fn io(&self, what: &str, e: std::io::Error) -> TransportError {
        TransportError::Other { device: self.device.clone(), message: format!("{what}: {e}") }
    }
}

impl Transport for LocalTransport {
    fn device(&self) -> &str {
        &self.device
    }

    fn address(&self) -> String {
        "this host".into()
    }

    fn connect(&self) -> Result<(), TransportError> {
        Ok(())
    }

    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    fn classify(&self, what: &str, out: &Output) -> TransportError {
        command_error(&self.device, what, out)
    }

    fn push(
        &self,
        local: &Path,
        remote: &str,
        offset: u64,
        progress: &indicatif::ProgressBar,
    ) -> Result<(), TransportError> {
        let mut src = std::fs::File::open(local).map_err(|e| self.io(&local.display().to_string(), e))?;
        src.seek(SeekFrom::Start(offset)).map_err(|e| self.io("seek", e))?;
        let mut dst = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(offset > 0)
            .truncate(offset == 0)
            .open(remote)
            .map_err(|e| self.io(remote, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = src.read(&mut buf).map_err(|e| self.io(&local.display().to_string(), e))?;
            if n == 0 {
                return Ok(());
            }
            dst.write_all(&buf[..n]).map_err(|e| self.io(remote, e))?;
            progress.inc(n as u64);
        }
    }

    fn can_resume(&self) -> bool {
        true
    }

    fn pull(&self, remote: &str, local: &Path) -> Result<(), TransportError> {
        std::fs::copy(remote, local).map(|_| ()).map_err(|e| self.io(remote, e))
    }
}
