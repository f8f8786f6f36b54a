//! One run at a time per device: an exclusive lock file per device (`<cache dir>/locks/<device>.lock`), honoured
//! by every etbench process on this host, held for a whole sweep.

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context;

/// An exclusive claim on one device, released when dropped.
pub struct DeviceLock {
    _file: File,
    pub path: PathBuf,
}

fn lock_path(device: &str) -> PathBuf {
    let safe: String = device.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    super::push::cache_dir().join("locks").join(format!("{safe}.lock"))
}

/// Takes the device's lock, waiting (with a message) while another run holds it.
pub fn lock_device(device: &str) -> anyhow::Result<DeviceLock> {
    let path = lock_path(device);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the lock directory {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the device lock {}", path.display()))?;
    if fs4::FileExt::try_lock(&file).is_err() {
        eprintln!("etbench: device {device} is busy (another etbench run holds {}); waiting", path.display());
        fs4::FileExt::lock(&file).with_context(|| format!("locking {}", path.display()))?;
    }
    Ok(DeviceLock { _file: file, path })
}

