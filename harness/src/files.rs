//! Replacing a file atomically: the bytes go to a temporary file beside it (`tempfile`), are synced, and the
//! temporary file is renamed over the target, so a reader never sees half a file and a failure never clobbers the
//! previous complete one. A leaf: every layer may use it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with `bytes` atomically. A file that exists keeps its permissions; a new one gets an ordinary
/// file's (0644 less the umask; temporary files are created 0600). The directory must exist. Errors name the step
/// and the file.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let context = |what: String| move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let permissions = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::Permissions::from_mode(0o644 & !umask()),
        Err(e) => return Err(context(format!("reading {}", path.display()))(e)),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(context(format!("cannot create a temporary file in {}", dir.display())))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .and_then(|_| std::fs::set_permissions(tmp.path(), permissions))
        .map_err(context(format!("writing {}", tmp.path().display())))?;
    tmp.persist(path).map_err(|e| context(format!("replacing {}", path.display()))(e.error))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_keeping_permissions_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        atomic_write(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644 & !umask());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        atomic_write(&path, b"two, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two, longer");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let err = atomic_write(&dir.path().join("nope/x.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("cannot create a temporary file in"), "{err}");
    }
}
