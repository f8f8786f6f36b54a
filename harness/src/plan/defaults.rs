//! Every default of a run that the host decides, in one place. The runner's own defaults (warm-up, iterations,
//! load mode, heartbeat, …) are [`RunSpec::default`] in `etbench-protocol`, which the runner shares; everything the
//! host adds on top of them for a kind of run lives here. `etbench run --print-spec` shows the resolved result.

use etbench_protocol::{LlmProgram, LlmSpec, RunSpec};

/// llama-bench's default workload: a 128-token prompt, 128 decode steps (`--prefill`/`--decode` when not given).
pub const PREFILL_TOKENS: u32 = 128;
pub const DECODE_TOKENS: u32 = 128;
/// The context assumed for an LLM program that states none (no metadata, no cache sizes).
pub const ASSUMED_CONTEXT: u32 = 256;

/// A paired in-process session given no `--iters`/`--until-ci` samples until it can call a 10 % change: rounds go on
/// until the 95 % interval of every model's ratio to the reference is within ±[`PAIRED_CI_PCT`] %, at least
/// [`PAIRED_MIN_ROUNDS`] and at most [`PAIRED_MAX_ROUNDS`] rounds (measured: 20 fixed rounds gave intervals of
/// ±5–10 % on this VM, too wide for a 10 % slowdown to clear the 5 % threshold).
pub const PAIRED_CI_PCT: f64 = 2.0;
pub const PAIRED_MIN_ROUNDS: u32 = 20;
pub const PAIRED_MAX_ROUNDS: u32 = 500;

/// Neighbour pairs per session of paired processes: at least this many before an interval is trusted, at most this
/// many however wide it still is; the interval half-width aimed for without `--until-ci`.
pub const PROCESS_PAIRS_MIN: u32 = 6;
pub const PROCESS_PAIRS_MAX: u32 = 40;
pub const PROCESS_PAIRS_CI_PCT: f64 = 2.0;

/// The most iterations `--iters auto` takes (the time budget usually ends it first).
pub const AUTO_MAX_ITERATIONS: u32 = 100_000;

/// Sampling of a generation run where the user set none (each iteration is a whole generation): one warm-up
/// generation, then generations until the decode and time-to-first-token intervals are within ±2 %, 6 to 50 of them,
/// 2 minutes at most.
pub const GENERATION_WARMUP: u32 = 1;
pub const GENERATION_MAX: u32 = 50;
pub const GENERATION_MIN: u32 = 6;
pub const GENERATION_CI_PCT: f64 = 2.0;
pub const GENERATION_MAX_TIME_S: f64 = 120.0;

/// [`RunSpec`] of a paired in-process session without `--iters`/`--until-ci`.
pub fn paired(spec: RunSpec) -> RunSpec {
    RunSpec {
        until_ci_pct: Some(PAIRED_CI_PCT),
        iterations: PAIRED_MAX_ROUNDS,
        min_iterations: spec.min_iterations.max(PAIRED_MIN_ROUNDS),
        ..spec
    }
}

/// The generation workload a run of an LLM program gets when none is asked for: pp128 / tg128 cut to fit the
/// program's context (half of it for the prompt at most).
pub fn workload(program: &LlmProgram) -> LlmSpec {
    let context = program.max_context.unwrap_or(ASSUMED_CONTEXT as i64).max(2) as u32;
    let prefill = PREFILL_TOKENS.min(context / 2).max(1);
    let decode = DECODE_TOKENS.min(context - prefill).max(1);
    LlmSpec { prefill, decode, ..LlmSpec::default() }
}

/// Sampling defaults of a generation run, where the user set none.
pub fn generation_sampling(mut spec: RunSpec) -> RunSpec {
    spec.warmup = GENERATION_WARMUP;
    spec.iterations = GENERATION_MAX;
    spec.min_iterations = GENERATION_MIN;
    spec.until_ci_pct = Some(GENERATION_CI_PCT);
    spec.max_time_s = Some(GENERATION_MAX_TIME_S);
    spec
}
