//! etbench's integration tests: one binary driving the real CLI, the real runner and the real ExecuTorch runtime
//! on the bundled `.pte` fixtures, against the local host and the device lab (ssh boards in network namespaces, an
//! aarch64 board under qemu-user, the real adb client/server with adbd-standin — a STAND-IN for adbd).
//! `common` holds the helpers; each module is one area of the product.

mod common;

mod cli;
mod compare;
mod devices;
mod docs;
mod energy;
mod export;
mod fleet;
mod front_door;
mod identity;
mod ingest;
mod inspect_llm;
mod interrupt;
mod kept;
mod layout;
mod llm;
mod methodology;
mod paired;
mod report;
mod site;
mod snapshots;
mod text;
