//! Executing a plan: one runner process per run ([`process`]), the sweep over a plan's cells with results written
//! after every run ([`sweep`]), several devices at once ([`fleet`]), and drift as one sweep per prompt ([`drift`]).

pub mod drift;
pub mod fleet;
pub mod process;
pub mod sweep;
