//! Judging results: bootstrap intervals, run-to-run comparisons with improved / regressed / no-change verdicts,
//! and the nightly history in SQLite.

pub mod bootstrap;
pub mod calibrate;
pub mod compare;
pub mod history;
pub mod paired;
