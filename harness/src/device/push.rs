//! The push cache: a file goes to a device only when the device lacks an identical copy.
//!
//! - Host side, [`sha256_cached`] hashes a file once per version: the digest is cached by path + size + mtime +
//!   inode in `hashes.json` under the cache dir (`ETBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/etbench`, else
//!   `~/.cache/etbench`), so a 13 GB model is not re-read on every run.
//! - Device side, `WORK_DIR/.etbench-manifest.jsonl` lists what was pushed (path, sha256, size, mtime), written
//!   only after a verified transfer. A file is skipped when its manifest entry has the wanted hash and the file
//!   still has the recorded size and mtime (rsync's size+mtime check alone would miss a same-size rewrite).
//! - Transfers check free space first, go to `NAME.<hash>.part` and are renamed when complete and verified (byte count;
//!   also a device-side sha256 with `verify_hash`); an interrupted ssh push resumes from the part's size, adb
//!   restarts it.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::device::transport::{progress_bar, quote, Transport, TransportError};

/// Where etbench keeps host-side caches.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ETBENCH_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("etbench");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/etbench"),
        None => std::env::temp_dir().join("etbench-cache"),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HashEntry {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    sha256: String,
}

static HASH_LOCK: Mutex<()> = Mutex::new(());

fn version_of(meta: &std::fs::Metadata) -> (u64, i128, u64) {
    (meta.size(), meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128, meta.ino())
}

fn read_hash_cache(file: &Path) -> HashMap<String, HashEntry> {
    std::fs::read(file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// The sha256 of `path`, computed only when this version of the file (size, mtime, inode) was never hashed.
pub fn sha256_cached(path: &Path) -> std::io::Result<String> {
    let canonical = std::fs::canonicalize(path)?;
    let key = canonical.display().to_string();
    let (size, mtime_ns, inode) = version_of(&std::fs::metadata(&canonical)?);
    let file = cache_dir().join("hashes.json");
    {
        let _guard = HASH_LOCK.lock().expect("hash cache lock");
        if let Some(e) = read_hash_cache(&file).get(&key) {
            if (e.size, e.mtime_ns, e.inode) == (size, mtime_ns, inode) {
                return Ok(e.sha256.clone());
            }
        }
    }
    let sha256 = sha256_file(&canonical)?;
    // The file must not have changed while it was read, or the digest belongs to no version.
    if version_of(&std::fs::metadata(&canonical)?) == (size, mtime_ns, inode) {
        let _guard = HASH_LOCK.lock().expect("hash cache lock");
        let mut cache = read_hash_cache(&file);
        cache.insert(key, HashEntry { size, mtime_ns, inode, sha256: sha256.clone() });
        // Best effort: a cache that cannot be written only costs a re-hash next time.
        let _ = write_atomically(&file, &serde_json::to_vec(&cache).unwrap_or_default());
    }
    Ok(sha256)
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(file).map(|_| ()).map_err(|e| e.error)
}

/// The temporary name of a transfer: content-specific, so a resume only ever continues the same bytes.
fn part_name(remote: &str, sha256: &str) -> String {
    format!("{remote}.{}.part", &sha256[..sha256.len().min(16)])
}

/// One line of the device manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub mtime: i64,
}

/// How a push went.
#[derive(Debug, Clone, PartialEq)]
pub enum Pushed {
    /// The device already had this exact file.
    Unchanged,
    /// Bytes sent (a resumed push sends only the rest).
    Sent { bytes: u64, resumed_from: u64 },
}

/// What to push where.
pub struct PushRequest<'a> {
    pub local: &'a Path,
    pub sha256: &'a str,
    /// Absolute destination on the device.
    pub remote: &'a str,
    pub executable: bool,
    pub verify_hash: bool,
}

/// Pushes files into one device's work dir, keeping its manifest.
pub struct Pusher<'a> {
    pub transport: &'a dyn Transport,
    pub work_dir: &'a str,
}

/// The device's view of a destination before a push.
struct RemoteState {
    manifest: Vec<ManifestEntry>,
    file: Option<(u64, i64)>,
    part_size: Option<u64>,
}

impl Pusher<'_> {
    fn manifest_path(&self) -> String {
        format!("{}/.etbench-manifest.jsonl", self.work_dir.trim_end_matches('/'))
    }

    fn err(&self, message: String) -> TransportError {
        TransportError::Other { device: self.transport.device().into(), message }
    }

    /// One round trip: create the destination's directory, read the manifest, stat the file and its part.
    fn remote_state(&self, remote: &str, sha256: &str) -> Result<RemoteState, TransportError> {
        let parent = remote.rsplit_once('/').map(|(p, _)| p).filter(|p| !p.is_empty()).unwrap_or("/");
        let script = format!(
            "mkdir -p -- {dir} || exit 3; cat -- {m} 2>/dev/null; echo @@ETB@@; stat -c '%s %Y' -- {f} 2>/dev/null; echo @@ETB@@; stat -c %s -- {p} 2>/dev/null; true",
            dir = quote(parent),
            m = quote(&self.manifest_path()),
            f = quote(remote),
            p = quote(&part_name(remote, sha256)),
        );
        let out = self.transport.run_ok(&format!("creating {parent}"), &script)?;
        let text = out.stdout_text();
        let mut sections = text.split("@@ETB@@\n");
        let manifest = sections
            .next()
            .unwrap_or("")
            .lines()
            .filter_map(|l| serde_json::from_str::<ManifestEntry>(l).ok())
            .collect();
        let file = sections.next().and_then(|s| {
            let mut w = s.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        });
        let part_size = sections.next().and_then(|s| s.trim().parse().ok());
        Ok(RemoteState { manifest, file, part_size })
    }

    /// Makes `req.remote` an exact copy of `req.local`, sending bytes only when needed.
    pub fn push(&self, req: &PushRequest) -> Result<Pushed, TransportError> {
        let size = std::fs::metadata(req.local).map_err(|e| self.err(format!("{}: {e}", req.local.display())))?.len();
        let state = self.remote_state(req.remote, req.sha256)?;
        let entry = state.manifest.iter().find(|e| e.path == req.remote);
        if let (Some(e), Some((fsize, fmtime))) = (entry, state.file) {
            if e.sha256 == req.sha256 && e.size == fsize && e.mtime == fmtime && fsize == size {
                return Ok(Pushed::Unchanged);
            }
        }
        let part = part_name(req.remote, req.sha256);
        let offset = match state.part_size {
            Some(n) if self.transport.can_resume() && n <= size => n,
            _ => 0,
        };
        self.check_space(req, size - offset)?;
        let name = req.local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bar = progress_bar(size, &format!("{}: {name}", self.transport.device()));
        let started = Instant::now();
        let result = self.transport.push(req.local, &part, offset, &bar);
        bar.finish_and_clear();
        if let Err(e) = result {
            if e.to_string().contains("No space left") {
                let _ = self.transport.run(&format!("rm -f -- {}", quote(&part)));
            }
            return Err(e);
        }
        self.verify(req, &part, size)?;
        let mtime = self.commit(req, &part)?;
        self.write_manifest(ManifestEntry { path: req.remote.into(), sha256: req.sha256.into(), size, mtime })?;
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        let sent = size - offset;
        eprintln!(
            "etbench: {}: pushed {name} ({:.1} MiB{} in {secs:.1} s, {:.0} MiB/s)",
            self.transport.device(),
            sent as f64 / 1048576.0,
            if offset > 0 { format!(", resumed at {:.1} MiB", offset as f64 / 1048576.0) } else { String::new() },
            sent as f64 / 1048576.0 / secs
        );
        Ok(Pushed::Sent { bytes: sent, resumed_from: offset })
    }

    fn check_space(&self, req: &PushRequest, needed: u64) -> Result<(), TransportError> {
        let available = self.transport.free_bytes(self.work_dir)?;
        // A little slack for the manifest and filesystem overhead.
        if available < needed + (1 << 20) {
            return Err(TransportError::DiskFull {
                device: self.transport.device().into(),
                dir: self.work_dir.into(),
                file: req.local.display().to_string(),
                needed_bytes: needed,
                available_bytes: available,
            });
        }
        Ok(())
    }

    /// The part must hold exactly the file's bytes (and hash, when asked) before it may take the final name.
    fn verify(&self, req: &PushRequest, part: &str, size: u64) -> Result<(), TransportError> {
        let hash = if req.verify_hash { format!("; sha256sum -- {} | cut -c1-64", quote(part)) } else { String::new() };
        let out = self.transport.run_ok("checking the pushed file", &format!("stat -c %s -- {}{hash}", quote(part)))?;
        let text = out.stdout_text();
        let mut lines = text.lines();
        let got: Option<u64> = lines.next().and_then(|l| l.trim().parse().ok());
        let digest_ok = !req.verify_hash || lines.next().map(str::trim) == Some(req.sha256);
        if got == Some(size) && digest_ok {
            return Ok(());
        }
        let _ = self.transport.run(&format!("rm -f -- {}", quote(part)));
        Err(self.err(format!(
            "push of {} to {} was incomplete or corrupt ({} of {size} bytes{}); the partial file was removed, re-run to push again",
            req.local.display(),
            req.remote,
            got.map(|g| g.to_string()).unwrap_or_else(|| "?".into()),
            if digest_ok { "" } else { ", sha256 mismatch" }
        )))
    }

    /// Renames the verified part into place; returns the file's mtime on the device.
    fn commit(&self, req: &PushRequest, part: &str) -> Result<i64, TransportError> {
        let chmod = if req.executable { format!("chmod 755 -- {} && ", quote(part)) } else { String::new() };
        let script = format!("{chmod}mv -f -- {p} {f} && stat -c %Y -- {f}", p = quote(part), f = quote(req.remote));
        let out = self.transport.run_ok("renaming the pushed file into place", &script)?;
        out.stdout_text().trim().parse().map_err(|_| self.err(format!("cannot read the mtime of {}", req.remote)))
    }

    fn write_manifest(&self, entry: ManifestEntry) -> Result<(), TransportError> {
        // Re-read right before writing: the lock is per device, so keep the window for a concurrent writer small.
        let current = self.transport.run(&format!("cat -- {} 2>/dev/null; true", quote(&self.manifest_path())))?;
        let mut entries: Vec<ManifestEntry> =
            current.stdout_text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        entries.retain(|e| e.path != entry.path);
        entries.push(entry);
        let mut text = String::new();
        for e in &entries {
            text.push_str(&serde_json::to_string(e).expect("serialisable"));
            text.push('\n');
        }
        let local = tempfile::NamedTempFile::new().map_err(|e| self.err(format!("temp file: {e}")))?;
        std::fs::write(local.path(), text).map_err(|e| self.err(format!("temp file: {e}")))?;
        let manifest = self.manifest_path();
        let tmp = format!("{manifest}.tmp");
        self.transport.push(local.path(), &tmp, 0, &indicatif::ProgressBar::hidden())?;
        self.transport.run_ok("writing the push manifest", &format!("mv -f -- {} {}", quote(&tmp), quote(&manifest)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_cache_hashes_a_file_version_once() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("ETBENCH_CACHE_DIR", dir.path().join("cache"));
        let file = dir.path().join("m.pte");
        std::fs::write(&file, b"abc").unwrap();
        let first = sha256_cached(&file).unwrap();
        assert_eq!(first, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        // A cached entry is trusted for the same version: poison it to prove no re-hash happens.
        let cache_file = dir.path().join("cache/hashes.json");
        let text = std::fs::read_to_string(&cache_file).unwrap().replace(&first, &"0".repeat(64));
        std::fs::write(&cache_file, text).unwrap();
        assert_eq!(sha256_cached(&file).unwrap(), "0".repeat(64));
        // A new version (size changes) is hashed again.
        std::fs::write(&file, b"abcd").unwrap();
        assert_ne!(sha256_cached(&file).unwrap(), "0".repeat(64));
    }
}

/// sha256 of a file's content, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}
