//! What a person watching the terminal sees while etbench works, and how they stop it.
//!
//! - Every progress bar (a sweep's "run k of N", a push's bytes) hangs off one [`indicatif::MultiProgress`] on
//!   stderr, and every log line goes through [`say!`], which prints above the bars instead of through them. Bars are
//!   hidden when stderr is not a terminal (CI logs, tests), so there the lines are all there is.
//! - Ctrl-C, SIGTERM and SIGHUP set one flag ([`interrupted`]) instead of killing etbench: the run in progress stops
//!   its runner (the runner is in its own process group, so the terminal's SIGINT does not reach it), every completed
//!   run stays in results.json, and the command exits 130. A second Ctrl-C quits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static BARS: LazyLock<MultiProgress> = LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The exit code of a command that was interrupted (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Prints a line on stderr above any progress bar (like `eprintln!`).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::progress::line(&format!($($arg)*))
    };
}

/// One stderr line above the bars (see [`say!`]).
pub fn line(text: &str) {
    BARS.suspend(|| eprintln!("{text}"));
}

/// A bar of `len` runs, "k/N runs done" with elapsed time and ETA, prefixed with the device's name. The ETA is
/// a dash until a run of this process has finished (there is no pace to go by before).
pub fn runs(len: u64, device: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix}: {pos}/{len} runs done [{bar:24}] {elapsed} elapsed, ETA {eta_or_dash} {msg}",
    )
    .expect("valid template")
    .with_key("eta_or_dash", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let eta = state.eta();
        let _ = if state.pos() == 0 || eta.is_zero() && state.pos() < state.len().unwrap_or(0) {
            write!(w, "–")
        } else {
            write!(w, "{:#}", indicatif::HumanDuration(eta))
        };
    })
    .progress_chars("=> ");
    let bar = BARS.add(ProgressBar::new(len).with_style(style).with_prefix(device.to_owned()));
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// A byte bar of a transfer of `total` bytes, labelled (device: file).
pub fn bytes(total: u64, label: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}")
        .expect("valid template")
        .progress_chars("=> ");
    BARS.add(ProgressBar::new(total).with_style(style).with_message(label.to_owned()))
}

/// Takes over Ctrl-C, SIGTERM and SIGHUP (once per process; later calls do nothing): the first sets the flag, the
/// second exits 130 at once.
pub fn handle_interrupts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
            line("etbench: interrupted: stopping the run in progress (runner or push); completed runs are kept (interrupt again to quit at once)");
        });
        if let Err(e) = installed {
            line(&format!("etbench: warning: Ctrl-C will kill etbench without saving the run in progress: {e}"));
        }
    });
}

/// Whether an interrupt arrived: the sweep starts no new run and the run in progress is stopped.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
