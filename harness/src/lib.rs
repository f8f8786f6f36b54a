//! etbench: benchmark and profile ExecuTorch `.pte` models on phones, boards and the local host.
//!
//! Data walks one way: CLI → [`plan::Plan`] (models as [`plan::model::Model`], defaults from [`plan::defaults`]) →
//! [`device::Device`] → `etbench-runner` (protocol lines) → [`run::process`] and [`run::sweep`] (one row per run,
//! finished once, identified by [`results::identity::RunIdentity`]) → [`results::Document`] → [`analysis`] (judges)
//! and [`export`] (renders the document, nothing else). ARCHITECTURE.md has the layers and where each thing lives.

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
pub mod store;
pub mod units;
pub mod verdict;
