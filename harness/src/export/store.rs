//! Writing results: an output directory checked up front, files replaced atomically (temp file + rename) so a
//! reader never sees half a file and a failure never clobbers the previous complete one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::export;
use crate::results::Document;

/// A directory we have proven we can write to.
#[derive(Debug, Clone)]
pub struct OutputDir {
    path: PathBuf,
}

impl OutputDir {
    /// Creates `path` if needed and checks it is writable, before any benchmark runs.
    pub fn prepare(path: &Path) -> anyhow::Result<Self> {
        let fix = "choose a writable directory with --out";
        std::fs::create_dir_all(path).with_context(|| format!("cannot create --out {}; {fix}", path.display()))?;
        tempfile::NamedTempFile::new_in(path)
            .with_context(|| format!("--out {} is not writable; {fix}", path.display()))?;
        Ok(Self { path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces `name` with `bytes` atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        let target = self.path.join(name);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.path)
            .with_context(|| format!("cannot write into {}", self.path.display()))?;
        tmp.write_all(bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .with_context(|| format!("writing {}", target.display()))?;
        // Temp files are created 0600; results are ordinary files (0644 before the umask).
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644 & !umask()));
        tmp.persist(&target).with_context(|| format!("replacing {}", target.display()))?;
        Ok(target)
    }

    /// Writes every machine format of the document (called after each run so a later failure loses nothing).
    pub fn write_results(&self, doc: &Document) -> anyhow::Result<()> {
        self.write("results.json", &export::json(doc))?;
        self.write("results.csv", &export::csv::render(doc))?;
        Ok(())
    }
}

/// The process umask, read from /proc (changing it to read it would race with other threads creating files).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:").and_then(|v| u32::from_str_radix(v.trim(), 8).ok()))
        })
        .unwrap_or(0o022)
}

/// Writes to stdout; a closed pipe (`etbench ... | head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
