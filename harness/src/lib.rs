//! etbench: benchmark and profile ExecuTorch `.pte` models on phones, boards and the local host.
//!
//! Data walks one way: CLI → [`sweep::Plan`] → [`device::Device`] → `etbench-runner` (protocol lines) →
//! [`results::RunResult`] → [`stats`] → [`export`] → [`output`].

pub mod analysis;
pub mod cli;
pub mod device;
pub mod export;
pub mod files;
pub mod home;
pub mod inspect;
pub mod plan;
pub mod progress;
pub mod results;
pub mod run;
pub mod stats;
pub mod units;
pub mod verdict;
