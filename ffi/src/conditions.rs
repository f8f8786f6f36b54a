//! Device conditions from sysfs, read by the runner on the device itself (so phones and boards need no shell
//! tools): per-core frequency and governor, thermal zones, battery, by the reader the host's probe shares
//! ([`DeviceFacts::read`]). Also the thermal gate (wait until cool) and CPU pinning, both done in-process before
//! anything is loaded.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etbench_protocol::{Conditions, CpuMask, DeviceFacts, GateOutcome, When};

pub fn read_conditions(sys: &Path, when: When) -> Conditions {
    Conditions {
        when,
        facts: DeviceFacts::read(sys),
        thermal_gate: None,
        memory_limit: None,
        memory_bandwidth_bytes_per_s: None,
    }
}

/// Streaming read bandwidth: the best of 5 passes summing a 256 MiB buffer (far larger than any cache) on `threads`
/// threads at once, each reading its own slice (on the CPUs the runner is pinned to: threads inherit its affinity), so
/// a variant's achieved bytes/s can be set against what the memory system delivers to that many cores.
pub fn probe_bandwidth(threads: usize) -> f64 {
    const BYTES: usize = 256 << 20;
    let threads = threads.clamp(1, 64);
    let buffer: Vec<u64> = (0..BYTES / 8).map(|i| i as u64).collect();
    let chunk = buffer.len().div_ceil(threads);
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for part in buffer.chunks(chunk) {
                    s.spawn(move || std::hint::black_box(part.iter().fold(0u64, |acc, v| acc.wrapping_add(*v))));
                }
            });
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::from_secs(1));
    BYTES as f64 / best.as_secs_f64()
}

pub use etbench_protocol::parse_bytes;

/// Moves this process into a new memory cgroup under its current one, limited to `bytes` (no swap), so exceeding
/// it gets the process OOM-killed like a phone with that much RAM would. Needs write access to the cgroup tree
/// (root on a board); cgroup v1 (`memory` controller) and v2 are handled.
pub fn limit_memory(bytes: u64) -> Result<String, String> {
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let v1 = own.lines().find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned()));
    let (dir, limit_files): (PathBuf, &[&str]) = match v1 {
        Some(path) => (
            Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/')),
            &["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"],
        ),
        None => {
            let path = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
            (Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')), &["memory.max"])
        }
    };
    let group = dir.join(format!("etbench-{}", std::process::id()));
    let fail = |what: &str, e: std::io::Error| {
        format!(
            "--memory-limit needs a writable memory cgroup: {what} {}: {e}; run as root or drop --memory-limit",
            group.display()
        )
    };
    std::fs::create_dir_all(&group).map_err(|e| fail("creating", e))?;
    for (i, file) in limit_files.iter().enumerate() {
        // memsw (v1 swap accounting) may be absent: only the first limit file is required.
        match std::fs::write(group.join(file), bytes.to_string()) {
            Err(e) if i == 0 => return Err(fail(&format!("writing {file} in"), e)),
            _ => {}
        }
    }
    let _ = std::fs::write(group.join("memory.swap.max"), "0");
    std::fs::write(group.join("cgroup.procs"), std::process::id().to_string()).map_err(|e| fail("joining", e))?;
    Ok(group.display().to_string())
}

/// Waits (polling every 500 ms) until the hottest zone is below `limit_c`, at most `timeout`.
pub fn thermal_gate(sys: &Path, limit_c: f64, timeout: Duration) -> GateOutcome {
    let start = Instant::now();
    loop {
        let temp_c = read_conditions(sys, When::Before).max_temp_c();
        let cool = temp_c.is_none_or(|t| t < limit_c);
        let timed_out = !cool && start.elapsed() >= timeout;
        if cool || timed_out {
            return GateOutcome { limit_c, waited_ms: start.elapsed().as_millis() as u64, timed_out, temp_c };
        }
        std::thread::sleep(
            Duration::from_millis(500).min(timeout.saturating_sub(start.elapsed())).max(Duration::from_millis(10)),
        );
    }
}

/// Pins this process (and the threads it starts later) to the CPUs of `mask`.
pub fn pin(mask: &CpuMask) -> Result<(), String> {
    let cpus: Vec<usize> = mask.cpus().map(|c| c as usize).collect();
    // Safety: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it, and sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
        if let Some(&beyond) = cpus.iter().find(|&&c| c >= capacity) {
            return Err(format!(
                "--cpu-affinity {mask}: cpu{beyond} is beyond the {capacity} CPUs sched_setaffinity takes here"
            ));
        }
        libc::CPU_ZERO(&mut set);
        for &cpu in &cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "sched_setaffinity({cpus:?}): {}; pick CPUs this device has",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sysfs(temp_millic: i64) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let zone = root.path().join("class/thermal/thermal_zone0");
        std::fs::create_dir_all(&zone).unwrap();
        std::fs::write(zone.join("type"), "cpu-thermal\n").unwrap();
        std::fs::write(zone.join("temp"), format!("{temp_millic}\n")).unwrap();
        let freq = root.path().join("devices/system/cpu/cpu0/cpufreq");
        std::fs::create_dir_all(&freq).unwrap();
        std::fs::write(freq.join("scaling_cur_freq"), "1800000\n").unwrap();
        std::fs::write(freq.join("cpuinfo_max_freq"), "2400000\n").unwrap();
        std::fs::write(freq.join("scaling_governor"), "schedutil\n").unwrap();
        let bat = root.path().join("class/power_supply/battery");
        std::fs::create_dir_all(&bat).unwrap();
        std::fs::write(bat.join("capacity"), "87\n").unwrap();
        std::fs::write(bat.join("status"), "Charging\n").unwrap();
        root
    }

    #[test]
    fn reads_cpufreq_thermal_and_battery() {
        let root = fake_sysfs(45500);
        let c = read_conditions(root.path(), When::Before);
        assert_eq!(c.facts.cpus[0].governor.as_deref(), Some("schedutil"));
        assert_eq!((c.facts.cpus[0].cur_khz, c.facts.cpus[0].max_khz), (Some(1_800_000), Some(2_400_000)));
        assert_eq!(c.max_temp_c(), Some(45.5));
        assert!(c.facts.battery().unwrap().is_charging());
    }

    #[test]
    fn gate_times_out_on_a_hot_device_and_passes_a_cool_one() {
        let hot = fake_sysfs(90_000);
        let outcome = thermal_gate(hot.path(), 50.0, Duration::from_millis(50));
        assert!(outcome.timed_out && outcome.temp_c == Some(90.0));
        let cool = fake_sysfs(30_000);
        assert!(!thermal_gate(cool.path(), 50.0, Duration::from_secs(5)).timed_out);
    }

    #[test]
    fn a_mask_beyond_the_cpu_set_is_refused_not_a_panic() {
        let far = CpuMask::from_cpus([100_000]).unwrap();
        assert!(pin(&far).unwrap_err().contains("cpu100000 is beyond"));
    }
}
