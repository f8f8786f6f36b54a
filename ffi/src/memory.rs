//! Process memory probes for the runner: `/proc/self/status` (VmHWM, RssAnon, RssFile), `getrusage` (ru_maxrss,
//! page faults), and the per-phase peak reset through `/proc/self/clear_refs`.

use etbench_protocol::MemorySnapshot;

/// Resets VmHWM and ru_maxrss to the current RSS so the next snapshot's peak belongs to the next phase.
/// Returns false where the kernel does not allow it (then peaks are cumulative, and the snapshot says so).
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .map(|kib: u64| kib * 1024)
}

struct Rusage {
    maxrss_bytes: u64,
    minor_faults: u64,
    major_faults: u64,
}

fn rusage() -> Option<Rusage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // Safety: getrusage writes a complete `rusage` into the pointer we own; we read it only on success.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // Safety: rc == 0 means the kernel filled the struct (and it was zeroed before).
    let usage = unsafe { usage.assume_init() };
    Some(Rusage {
        maxrss_bytes: u64::try_from(usage.ru_maxrss).ok()? * 1024,
        minor_faults: u64::try_from(usage.ru_minflt).ok()?,
        major_faults: u64::try_from(usage.ru_majflt).ok()?,
    })
}

/// Fault counters are cumulative; the phase's share is the difference against `since`.
pub fn snapshot(since: Option<&MemorySnapshot>, peak_reset: bool) -> MemorySnapshot {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let usage = rusage();
    let delta = |now: Option<u64>, before: Option<u64>| match (now, before) {
        (Some(n), Some(b)) => Some(n.saturating_sub(b)),
        (n, _) => n,
    };
    let faults = |pick: fn(&Rusage) -> u64| usage.as_ref().map(pick);
    MemorySnapshot {
        vm_hwm_bytes: status_kib(&status, "VmHWM"),
        ru_maxrss_bytes: usage.as_ref().map(|u| u.maxrss_bytes),
        rss_bytes: status_kib(&status, "VmRSS"),
        rss_anon_bytes: status_kib(&status, "RssAnon"),
        rss_file_bytes: status_kib(&status, "RssFile"),
        minor_faults: delta(faults(|u| u.minor_faults), since.and_then(|s| s.minor_faults)),
        major_faults: delta(faults(|u| u.major_faults), since.and_then(|s| s.major_faults)),
        peak_reset,
    }
}

/// Cumulative fault counters now, as a baseline for [`snapshot`].
pub fn fault_baseline() -> MemorySnapshot {
    let usage = rusage();
    MemorySnapshot {
        minor_faults: usage.as_ref().map(|u| u.minor_faults),
        major_faults: usage.as_ref().map(|u| u.major_faults),
        ..MemorySnapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse_as_bytes() {
        let text = "Name:\tx\nVmHWM:\t  2048 kB\nRssAnon:\t 10 kB\n";
        assert_eq!(status_kib(text, "VmHWM"), Some(2048 * 1024));
        assert_eq!(status_kib(text, "RssAnon"), Some(10 * 1024));
        assert_eq!(status_kib(text, "RssFile"), None);
    }

    #[test]
    fn snapshot_of_this_process_has_a_peak_at_least_its_rss() {
        let snap = snapshot(None, false);
        let (peak, rss) = (snap.vm_hwm_bytes.unwrap(), snap.rss_bytes.unwrap());
        assert!(peak >= rss, "VmHWM {peak} < VmRSS {rss}");
    }
}
