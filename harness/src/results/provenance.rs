//! Where and when: etbench's version and git sha, and the machine as sysinfo describes it.

use chrono::Utc;
use sysinfo::System;

use crate::results::{Provenance, SystemInfo};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn git_sha() -> Option<String> {
    option_env!("ETBENCH_GIT_SHA").filter(|s| !s.is_empty()).map(str::to_owned)
}

pub fn system_info() -> SystemInfo {
    let sys = System::new().ok().map(|mut sys| {
        sys.refresh_memory();
        sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
        sys
    });
    let cpus = sys.as_ref().map(|s| s.cpus()).unwrap_or_default();
    SystemInfo {
        hostname: System::host_name().ok(),
        os: System::name().ok(),
        os_version: System::os_version().ok(),
        kernel: System::kernel_version().ok(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu_brand: cpus.first().map(|c| c.brand().trim().to_owned()).filter(|b| !b.is_empty()),
        cpu_logical_cores: cpus.len().max(1),
        cpu_physical_cores: System::physical_core_count().ok(),
        memory_total_bytes: sys.as_ref().map(|s| s.total_memory()).unwrap_or(0),
    }
}

pub fn provenance(command: Vec<String>) -> Provenance {
    Provenance {
        etbench_version: VERSION.to_owned(),
        git_sha: git_sha(),
        created_at: Utc::now(),
        command,
        cwd: std::env::current_dir().ok().map(|d| d.display().to_string()),
        host: system_info(),
    }
}
