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
//! - [`Pusher::push_all`] does this for many files (a runner bundle) in a fixed number of round trips, so an
//!   unchanged bundle costs one remote command however many files it has.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::device::transport::{progress_bar, quote, Transport, TransportError};
use crate::files::atomic_write;

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
        let bytes = serde_json::to_vec(&cache).unwrap_or_default();
        let _ = file.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| atomic_write(&file, &bytes));
    }
    Ok(sha256)
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
    /// Print a line per file sent (size, time, rate); a caller pushing a bundle reports it as one.
    pub each_file: bool,
}

/// The device's view of the destinations before a push: the manifest, then per destination the file's (size,
/// mtime) and its part's size.
struct RemoteState {
    manifest: Vec<ManifestEntry>,
    files: Vec<RemoteFile>,
}

/// One destination as the device sees it: the file's (size, mtime) if present, and its `.part`'s size.
type RemoteFile = (Option<(u64, i64)>, Option<u64>);

/// A destination that needs bytes: which request, from which offset.
struct Transfer {
    index: usize,
    size: u64,
    offset: u64,
}

impl Pusher<'_> {
    fn manifest_path(&self) -> String {
        format!("{}/.etbench-manifest.jsonl", self.work_dir.trim_end_matches('/'))
    }

    fn err(&self, message: String) -> TransportError {
        TransportError::Other { device: self.transport.device().into(), message }
    }

    /// One round trip: create the destinations' directories, read the manifest, stat every file and its part.
    fn remote_state(&self, reqs: &[PushRequest]) -> Result<RemoteState, TransportError> {
        let mut dirs: Vec<&str> = reqs
            .iter()
            .map(|r| r.remote.rsplit_once('/').map(|(p, _)| p).filter(|p| !p.is_empty()).unwrap_or("/"))
            .collect();
        dirs.dedup();
        let mut script = String::from("mkdir -p --");
        for d in &dirs {
            script.push(' ');
            script.push_str(&quote(d));
        }
        script.push_str(&format!(" || exit 3; cat -- {} 2>/dev/null; echo @@ETB@@", quote(&self.manifest_path())));
        for r in reqs {
            script.push_str(&format!(
                "; echo \"$(stat -c '%s %Y' -- {f} 2>/dev/null || echo - -) $(stat -c %s -- {p} 2>/dev/null || echo -)\"",
                f = quote(r.remote),
                p = quote(&part_name(r.remote, r.sha256)),
            ));
        }
        let out = self.transport.run_ok(&format!("creating {}", dirs.join(", ")), &script)?;
        let text = out.stdout_text();
        let (manifest, stats) = text.split_once("@@ETB@@\n").unwrap_or((&text, ""));
        let manifest = manifest.lines().filter_map(|l| serde_json::from_str::<ManifestEntry>(l).ok()).collect();
        let mut lines = stats.lines();
        let files = reqs
            .iter()
            .map(|_| {
                let line = lines.next().unwrap_or("");
                let mut w = line.split_whitespace();
                let (size, mtime, part) = (w.next(), w.next(), w.next());
                let file = size.and_then(|s| s.parse().ok()).zip(mtime.and_then(|m| m.parse().ok()));
                (file, part.and_then(|p| p.parse().ok()))
            })
            .collect();
        Ok(RemoteState { manifest, files })
    }

    /// Makes `req.remote` an exact copy of `req.local`, sending bytes only when needed.
    pub fn push(&self, req: &PushRequest) -> Result<Pushed, TransportError> {
        let mut pushed = self.push_all(std::slice::from_ref(req))?;
        Ok(pushed.pop().expect("one outcome per request"))
    }

    /// [`Pusher::push`] for several files in few round trips: one reads the manifest and stats every destination,
    /// one checks free space for all, then the transfers, one check of every part, one rename of every part, one
    /// manifest write. Files that were verified are committed (and recorded) even when a later one fails.
    pub fn push_all(&self, reqs: &[PushRequest]) -> Result<Vec<Pushed>, TransportError> {
        let mut outcome = vec![Pushed::Unchanged; reqs.len()];
        let todo = self.transfers_needed(reqs)?;
        let Some(first) = todo.first() else { return Ok(outcome) };
        self.check_space(&reqs[first.index], todo.iter().map(|t| t.size - t.offset).sum())?;
        let (arrived, failed) = self.send(reqs, &todo);
        let (committed, problem) = self.settle(reqs, &arrived);
        if !committed.is_empty() {
            let entries = committed
                .iter()
                .map(|(t, mtime)| {
                    let req = &reqs[t.index];
                    ManifestEntry { path: req.remote.into(), sha256: req.sha256.into(), size: t.size, mtime: *mtime }
                })
                .collect();
            self.write_manifest(entries)?;
        }
        for (t, _) in &committed {
            outcome[t.index] = Pushed::Sent { bytes: t.size - t.offset, resumed_from: t.offset };
            if self.each_file {
                let secs = arrived.iter().find(|(a, _)| a.index == t.index).map_or(0.0, |(_, s)| *s);
                self.report(&reqs[t.index], t, secs.max(1e-6));
            }
        }
        match failed.or(problem) {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }

    /// The destinations whose manifest entry, size or mtime does not match the wanted file (from one round trip).
    fn transfers_needed(&self, reqs: &[PushRequest]) -> Result<Vec<Transfer>, TransportError> {
        let mut sizes = Vec::with_capacity(reqs.len());
        for r in reqs {
            sizes.push(std::fs::metadata(r.local).map_err(|e| self.err(format!("{}: {e}", r.local.display())))?.len());
        }
        let state = self.remote_state(reqs)?;
        let mut todo = Vec::new();
        for (index, (req, &size)) in reqs.iter().zip(&sizes).enumerate() {
            let (file, part_size) = state.files[index];
            let entry = state.manifest.iter().find(|e| e.path == req.remote);
            if let (Some(e), Some((fsize, fmtime))) = (entry, file) {
                if e.sha256 == req.sha256 && e.size == fsize && e.mtime == fmtime && fsize == size {
                    continue;
                }
            }
            let offset = match part_size {
                Some(n) if self.transport.can_resume() && n <= size => n,
                _ => 0,
            };
            todo.push(Transfer { index, size, offset });
        }
        Ok(todo)
    }

    /// Sends each transfer into its part file, in order, stopping at the first failure; with each arrival's seconds.
    fn send<'t>(
        &self,
        reqs: &[PushRequest],
        todo: &'t [Transfer],
    ) -> (Vec<(&'t Transfer, f64)>, Option<TransportError>) {
        let mut arrived = Vec::new();
        for t in todo {
            let req = &reqs[t.index];
            let part = part_name(req.remote, req.sha256);
            let bar = progress_bar(t.size, &format!("{}: {}", self.transport.device(), file_name(req.local)));
            let started = Instant::now();
            let result = self.transport.push(req.local, &part, t.offset, &bar);
            bar.finish_and_clear();
            match result {
                Ok(()) => arrived.push((t, started.elapsed().as_secs_f64())),
                Err(e) => {
                    if e.to_string().contains("No space left") {
                        let _ = self.transport.run(&format!("rm -f -- {}", quote(&part)));
                    }
                    return (arrived, Some(e));
                }
            }
        }
        (arrived, None)
    }

    /// Verifies the arrived parts and renames the good ones into place: (transfer, mtime on the device) of each
    /// committed file, and the first problem.
    fn settle<'t>(
        &self,
        reqs: &[PushRequest],
        arrived: &[(&'t Transfer, f64)],
    ) -> (Vec<(&'t Transfer, i64)>, Option<TransportError>) {
        if arrived.is_empty() {
            return (Vec::new(), None);
        }
        let transfers: Vec<&Transfer> = arrived.iter().map(|(t, _)| *t).collect();
        let (good, mut problem) = match self.verify(reqs, &transfers) {
            Ok(found) => found,
            Err(e) => (Vec::new(), Some(e)),
        };
        let good: Vec<&Transfer> = transfers.into_iter().filter(|t| good.contains(&t.index)).collect();
        let mtimes = match self.commit(reqs, &good) {
            Ok(m) => m,
            Err(e) => return (Vec::new(), problem.or(Some(e))),
        };
        let mut committed = Vec::new();
        for (t, mtime) in good.into_iter().zip(mtimes) {
            match mtime {
                Some(mtime) => committed.push((t, mtime)),
                None => {
                    problem.get_or_insert_with(|| {
                        self.err(format!("cannot rename the pushed {} into place", reqs[t.index].remote))
                    });
                }
            }
        }
        (committed, problem)
    }

    fn report(&self, req: &PushRequest, t: &Transfer, secs: f64) {
        let sent = t.size - t.offset;
        crate::say!(
            "etbench: {}: pushed {} ({}{} in {secs:.1} s, {:.0} MiB/s)",
            self.transport.device(),
            file_name(req.local),
            crate::units::mebibytes(sent),
            if t.offset > 0 { format!(", resumed at {}", crate::units::mebibytes(t.offset)) } else { String::new() },
            sent as f64 / crate::units::MIB / secs
        );
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

    /// Every part must hold exactly its file's bytes (and hash, when asked) before it may take the final name.
    /// Returns the requests whose parts are good and, when some were not, the first problem (bad parts are removed).
    fn verify(
        &self,
        reqs: &[PushRequest],
        transfers: &[&Transfer],
    ) -> Result<(Vec<usize>, Option<TransportError>), TransportError> {
        let mut script = String::from("true");
        for t in transfers {
            let req = &reqs[t.index];
            let part = quote(&part_name(req.remote, req.sha256));
            let hash = if req.verify_hash {
                format!(" $(sha256sum -- {part} 2>/dev/null | cut -c1-64)")
            } else {
                String::new()
            };
            script.push_str(&format!("; echo \"$(stat -c %s -- {part} 2>/dev/null || echo -){hash}\""));
        }
        let out = self.transport.run_ok("checking the pushed files", &script)?;
        let text = out.stdout_text();
        let mut lines = text.lines();
        let mut good = Vec::new();
        let mut problem = None;
        for t in transfers {
            let req = &reqs[t.index];
            let line = lines.next().unwrap_or("");
            let mut w = line.split_whitespace();
            let got: Option<u64> = w.next().and_then(|v| v.parse().ok());
            let digest_ok = !req.verify_hash || w.next() == Some(req.sha256);
            if got == Some(t.size) && digest_ok {
                good.push(t.index);
                continue;
            }
            let part = part_name(req.remote, req.sha256);
            let _ = self.transport.run(&format!("rm -f -- {}", quote(&part)));
            problem.get_or_insert_with(|| {
                self.err(format!(
                    "push of {} to {} was incomplete or corrupt ({} of {} bytes{}); the partial file was removed, re-run to push again",
                    req.local.display(),
                    req.remote,
                    got.map(|g| g.to_string()).unwrap_or_else(|| "?".into()),
                    t.size,
                    if digest_ok { "" } else { ", sha256 mismatch" }
                ))
            });
        }
        Ok((good, problem))
    }

    /// Renames the verified parts into place; returns each file's mtime on the device (`None`: not renamed).
    fn commit(&self, reqs: &[PushRequest], transfers: &[&Transfer]) -> Result<Vec<Option<i64>>, TransportError> {
        if transfers.is_empty() {
            return Ok(Vec::new());
        }
        let mut script = String::from("true");
        for t in transfers {
            let req = &reqs[t.index];
            let (p, f) = (quote(&part_name(req.remote, req.sha256)), quote(req.remote));
            let chmod = if req.executable { format!("chmod 755 -- {p} && ") } else { String::new() };
            script.push_str(&format!("; {{ {chmod}mv -f -- {p} {f} && stat -c %Y -- {f}; }} || echo -"));
        }
        let out = self.transport.run_ok("renaming the pushed files into place", &script)?;
        let text = out.stdout_text();
        let mut lines = text.lines();
        Ok(transfers.iter().map(|_| lines.next().and_then(|l| l.trim().parse().ok())).collect())
    }

    fn write_manifest(&self, new: Vec<ManifestEntry>) -> Result<(), TransportError> {
        // Re-read right before writing: the lock is per device, so keep the window for a concurrent writer small.
        let current = self.transport.run(&format!("cat -- {} 2>/dev/null; true", quote(&self.manifest_path())))?;
        let mut entries: Vec<ManifestEntry> =
            current.stdout_text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        entries.retain(|e| !new.iter().any(|n| n.path == e.path));
        entries.extend(new);
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
        self.transport
            .run_ok("writing the push manifest", &format!("mv -f -- {} {}", quote(&tmp), quote(&manifest)))?;
        Ok(())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
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
