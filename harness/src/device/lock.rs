//! One run at a time per device: an exclusive lock file per device (`<cache dir>/locks/<device>.lock`), honoured
//! by every etbench process on this host, held for a whole sweep. [`exclusive`] is the lock file itself, also used
//! so that two etbench processes never build the same cross runner at once.

use std::fs::File;
use std::path::{Path, PathBuf};

/// An exclusive claim on one device, released when dropped.
pub struct DeviceLock {
    _file: File,
    pub path: PathBuf,
}

fn lock_path(device: &str) -> PathBuf {
    let safe: String =
        device.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    super::push::cache_dir().join("locks").join(format!("{safe}.lock"))
}

/// An exclusive lock on the file `path` (created, with its directory), held until the file is dropped. When another
/// process holds it, says `etbench: {busy} (it holds PATH); waiting` and waits.
pub fn exclusive(path: &Path, what: &str, busy: &str) -> Result<File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating the lock directory {}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("opening the {what} {}: {e}", path.display()))?;
    if fs4::FileExt::try_lock(&file).is_err() {
        crate::say!("etbench: {busy} (it holds {}); waiting", path.display());
        fs4::FileExt::lock(&file).map_err(|e| format!("locking {}: {e}", path.display()))?;
    }
    Ok(file)
}

/// Takes the device's lock, waiting (with a message) while another run holds it.
pub fn lock_device(device: &str) -> anyhow::Result<DeviceLock> {
    let path = lock_path(device);
    let file = exclusive(&path, "device lock", &format!("device {device} is busy: another etbench run"))
        .map_err(anyhow::Error::msg)?;
    Ok(DeviceLock { _file: file, path })
}
