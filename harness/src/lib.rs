//! etbench: benchmark and profile ExecuTorch `.pte` models on phones, boards and the local host.
//!
//! Data walks one way: CLI → [`sweep::Plan`] → [`device::Device`] → `etbench-runner` (protocol lines) →
//! [`results::RunResult`] → [`stats`] → [`export`] → [`output`].

pub mod cli;
pub mod cli_report;
pub mod compare;
pub mod device;
pub mod drift;
pub mod export;
pub mod fleet;
pub mod fb;
pub mod inspect;
pub mod history;
pub mod home;
pub mod manifest;
pub mod model;
pub mod output;
pub mod profiles;
pub mod profile;
pub mod prompt;
pub mod provenance;
pub mod push;
pub mod report;
pub mod results;
pub mod session;
pub mod stats;
pub mod sweep;
pub mod transport;
pub mod warnings;
