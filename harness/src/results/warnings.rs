//! Measurement conditions that make a run less trustworthy. Each warning's text says how to fix it.

use serde::{Deserialize, Serialize};

use crate::results::RunResult;
use etbench_protocol::{CpuCondition, When};

/// Coefficient of variation above which a run is called noisy.
pub const HIGH_CV: f64 = 0.05;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Warning {
    DebugBuild,
    GovernorNotPerformance {
        governors: Vec<String>,
    },
    /// A core ran ≥ 10% slower after the run than before it.
    FrequencyDropped {
        cpu: u32,
        before_khz: u64,
        after_khz: u64,
    },
    /// A CPU cluster (its fastest core) ran ≥ 10% slower after the run than before it.
    ClusterFrequencyDropped {
        cluster: String,
        cpus: Vec<u32>,
        before_khz: u64,
        after_khz: u64,
    },
    /// The device was still above the thermal gate when the wait timed out.
    ThermalGateTimedOut {
        limit_c: f64,
        temp_c: Option<f64>,
    },
    HighVariance {
        cv: f64,
    },
    Charging,
    /// No energy figure (refused, source lost) or a coarse one; the text says why and what to do.
    Energy {
        message: String,
    },
    /// Planned memory plus the weights exceed what the device had available before the run.
    MayNotFit {
        needs_bytes: u64,
        planned_bytes: u64,
        available_bytes: u64,
        mmap: bool,
        /// The available memory is the run's memory limit.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        limited: bool,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::DebugBuild => write!(f, "the runner is a debug build: timings are not representative; build with `cargo build --release`"),
            Warning::GovernorNotPerformance { governors } => write!(
                f,
                "CPU governor is {} not `performance`: frequencies wander; set it (root: echo performance > /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor) or report it",
                governors.join("/")
            ),
            Warning::FrequencyDropped { cpu, before_khz, after_khz } => write!(
                f,
                "throttling: cpu{cpu} fell from {} to {} MHz during the run; add --cooldown or --thermal-gate, or cool the device",
                before_khz / 1000,
                after_khz / 1000
            ),
            Warning::ClusterFrequencyDropped { cluster, cpus, before_khz, after_khz } => write!(
                f,
                "throttling: the {cluster} cluster ({}) fell from {} to {} MHz during the run; add --cooldown or --thermal-gate, or cool the device",
                crate::results::cpu_list(cpus),
                before_khz / 1000,
                after_khz / 1000
            ),
            Warning::ThermalGateTimedOut { limit_c, temp_c } => write!(
                f,
                "the device stayed above {limit_c} °C ({}) until the gate timed out: this run started hot; raise --gate-timeout or --cooldown",
                temp_c.map(|t| format!("{t:.1} °C")).unwrap_or_else(|| "?".into())
            ),
            Warning::HighVariance { cv } => write!(
                f,
                "high variance: CV {:.1}% > {:.0}%; close other apps, pin cores (--cpu-affinity), add --warmup/--iters or --repeat",
                cv * 100.0,
                HIGH_CV * 100.0
            ),
            Warning::Energy { message } => write!(f, "energy: {message}"),
            Warning::Charging => write!(f, "the device was charging: charging heats phones and changes clocks; unplug or use a power bypass"),
            Warning::MayNotFit { needs_bytes, planned_bytes, available_bytes, mmap, limited } => {
                let size = |b: &u64| crate::units::binary(*b);
                let has = if *limited { "the run's --memory-limit allows" } else { "device has" };
                write!(f, "needs ≈ {} (planned memory {} + weights), {has} {}", size(needs_bytes), size(planned_bytes), size(available_bytes))?;
                if !*limited {
                    write!(f, " available")?;
                }
                if *mmap {
                    write!(f, "; mmap keeps the weights file-backed: expect page-ins as latency (or use a device with more RAM)")
                } else {
                    write!(f, "; use --load-mode mmap so the weights stay file-backed")
                }
            }
        }
    }
}

/// Every warning that applies to a finished run.
/// The warning for a model that may not fit in the device's available memory (none when it fits).
pub fn may_not_fit(fit: &crate::results::MemoryFit, load_mode: etbench_protocol::LoadMode) -> Option<Warning> {
    (!fit.fits).then(|| Warning::MayNotFit {
        needs_bytes: fit.planned_bytes + fit.file_bytes,
        planned_bytes: fit.planned_bytes,
        available_bytes: fit.available_bytes,
        mmap: load_mode == etbench_protocol::LoadMode::Mmap,
        limited: fit.limited,
    })
}

pub fn assess(run: &RunResult) -> Vec<Warning> {
    let mut out = Vec::new();
    if run.is_interrupted() {
        // Not a measurement, only a place holder for `run --resume`.
        return out;
    }
    out.extend(run.memory_fit.as_ref().and_then(|fit| may_not_fit(fit, run.params.spec.load_mode)));
    out.extend(run.energy.iter().flat_map(|e| e.warnings.iter()).map(|m| Warning::Energy { message: m.clone() }));
    if run.runner.as_ref().is_some_and(|r| r.debug_build) {
        out.push(Warning::DebugBuild);
    }
    let before = run.conditions.iter().find(|c| c.when == When::Before);
    let after = run.conditions.iter().find(|c| c.when == When::After);
    if let Some(before) = before {
        let mut governors: Vec<String> =
            before.facts.cpus.iter().filter_map(|c| c.governor.clone()).filter(|g| g != "performance").collect();
        governors.sort();
        governors.dedup();
        if !governors.is_empty() {
            out.push(Warning::GovernorNotPerformance { governors });
        }
        if before.facts.battery().is_some_and(|b| b.is_charging()) {
            out.push(Warning::Charging);
        }
        if let Some(gate) = before.thermal_gate.as_ref().filter(|g| g.timed_out) {
            out.push(Warning::ThermalGateTimedOut { limit_c: gate.limit_c, temp_c: gate.temp_c });
        }
    }
    if let (Some(before), Some(after)) = (before, after) {
        let clusters = run.device.probed.as_ref().map(|p| p.clusters.as_slice()).unwrap_or_default();
        if clusters.len() > 1 {
            out.extend(cluster_drops(clusters, &before.facts.cpus, &after.facts.cpus));
        } else {
            for (b, a) in before.facts.cpus.iter().zip(&after.facts.cpus) {
                if let (Some(bk), Some(ak)) = (b.cur_khz, a.cur_khz) {
                    if (ak as f64) < bk as f64 * 0.9 {
                        out.push(Warning::FrequencyDropped { cpu: b.cpu, before_khz: bk, after_khz: ak });
                    }
                }
            }
        }
    }
    if let Some(cv) = run.summary.as_ref().and_then(|s| s.latency_ns.cv).filter(|cv| *cv > HIGH_CV) {
        out.push(Warning::HighVariance { cv });
    }
    out
}

/// Per cluster, the fastest core's frequency before and after (a cluster's cores share one clock policy).
fn cluster_drops(
    clusters: &[crate::results::CpuCluster],
    before: &[CpuCondition],
    after: &[CpuCondition],
) -> Vec<Warning> {
    let fastest = |cpus: &[CpuCondition], members: &[u32]| {
        cpus.iter().filter(|c| members.contains(&c.cpu)).filter_map(|c| c.cur_khz).max()
    };
    clusters
        .iter()
        .filter_map(|cl| {
            let (b, a) = (fastest(before, &cl.cpus)?, fastest(after, &cl.cpus)?);
            ((a as f64) < b as f64 * 0.9).then(|| Warning::ClusterFrequencyDropped {
                cluster: cl.name.clone(),
                cpus: cl.cpus.clone(),
                before_khz: b,
                after_khz: a,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(cpu: u32, khz: u64) -> CpuCondition {
        CpuCondition { cpu, cur_khz: Some(khz), max_khz: None, governor: None }
    }

    #[test]
    fn a_cluster_that_slowed_down_is_named_once() {
        let cluster = |name: &str, cpus: Vec<u32>| crate::results::CpuCluster {
            name: name.into(),
            mask: String::new(),
            cpus,
            capacity: None,
            max_khz: None,
        };
        let clusters = [cluster("little", vec![0, 1]), cluster("big", vec![2, 3])];
        let before = [cpu(0, 1_800_000), cpu(1, 1_800_000), cpu(2, 2_900_000), cpu(3, 2_900_000)];
        let after = [cpu(0, 1_800_000), cpu(1, 1_700_000), cpu(2, 1_500_000), cpu(3, 1_500_000)];
        let drops = cluster_drops(&clusters, &before, &after);
        assert_eq!(
            drops,
            [Warning::ClusterFrequencyDropped {
                cluster: "big".into(),
                cpus: vec![2, 3],
                before_khz: 2_900_000,
                after_khz: 1_500_000
            }]
        );
        assert!(drops[0].to_string().contains("the big cluster (cpu2-3) fell from 2900 to 1500 MHz"), "{}", drops[0]);
    }
}
