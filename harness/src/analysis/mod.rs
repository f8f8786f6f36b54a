//! Judging results: bootstrap intervals, run-to-run comparisons with improved / regressed / no-change verdicts,
//! the nightly history in SQLite, and its static dashboard (`site`).

pub mod bootstrap;
pub mod calibrate;
pub mod compare;
pub mod history;
pub mod paired;
