//! Writing results: an output directory checked up front, files replaced atomically ([`crate::files::atomic_write`])
//! so a reader never sees half a file and a failure never clobbers the previous complete one.

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

    /// Replaces `name` with `bytes` atomically ([`crate::files::atomic_write`]).
    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        let target = self.path.join(name);
        crate::files::atomic_write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
        Ok(target)
    }

    /// Writes every machine format of the document (called after each run so a later failure loses nothing).
    pub fn write_results(&self, doc: &Document) -> anyhow::Result<()> {
        self.write("results.json", &export::json(doc))?;
        self.write("results.csv", &export::csv::render(doc))?;
        Ok(())
    }
}

/// Writes to stdout; a closed pipe (`etbench ... | head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
