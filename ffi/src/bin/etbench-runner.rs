//! `etbench-runner`: the device-side program. Loads one `.pte`, runs the phases of one run specification, and
//! writes the versioned JSON-lines protocol on stdout (the runtime's own logs go to stderr). Exit 0 = ok, 1 = the
//! run failed (an error line says why), 2 = bad arguments, 3 = the host stopped reading (see `heartbeats`).
//!
//! The run specification is one JSON object (`--spec`, or `--spec-file`), the same `RunSpec` etbench records in
//! results.json; every key is optional: `etbench-runner --spec '{"iterations": 5}' model.pte`.

use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex};

use clap::Parser;
use etbench_ffi::run::{run, Emit, Invocation};
use etbench_protocol::{Line, Message, RunSpec};

#[derive(Parser, Debug)]
#[command(name = "etbench-runner", version, about = "Time an ExecuTorch .pte on this device (driven by etbench)")]
struct Args {
    /// Path of the .pte program; several paths make a paired session (all loaded in this process, timed
    /// iterations alternating round by round; the first is the reference).
    #[arg(required = true)]
    models: Vec<String>,
    /// The run specification as JSON (keys: method, load_mode, warmup, iterations, threads, inputs, real_tokens,
    /// generate, thermal_gate_c, gate_timeout_s, cpu_affinity, profile, memory_limit_bytes, bandwidth_probe);
    /// missing keys take their defaults.
    #[arg(long, value_parser = parse_spec, conflicts_with = "spec_file")]
    spec: Option<RunSpec>,
    /// A file holding the run specification as JSON.
    #[arg(long)]
    spec_file: Option<std::path::PathBuf>,
    /// Write the raw little-endian bytes of output 0 after the last timed iteration to this file.
    #[arg(long)]
    dump_output: Option<String>,
    /// Where the ETDump of a profiled run (`"profile": true`) goes (default: <model name>.etdump here).
    #[arg(long)]
    etdump: Option<String>,
    /// Print the meta line (methods, input/output specs) and exit without loading the method.
    #[arg(long)]
    describe: bool,
    /// Root of sysfs for device conditions (for tests: a fake tree).
    #[arg(long, default_value = "/sys", hide = true)]
    sysfs_root: std::path::PathBuf,
}

fn parse_spec(text: &str) -> Result<RunSpec, String> {
    let spec: RunSpec = serde_json::from_str(text).map_err(|e| format!("not a run specification: {e}"))?;
    spec.validate()?;
    Ok(spec)
}

/// Writes protocol lines to stdout; a closed pipe ends the run without an error. Shared with the heartbeat thread.
#[derive(Clone)]
struct Stdout(Arc<Mutex<BufWriter<std::io::Stdout>>>);

impl Stdout {
    fn write(&self, msg: Message) -> bool {
        // Samples are buffered (thousands of fast iterations), except slow ones: they are the host's progress.
        let flush = !matches!(&msg, Message::Sample(s) if s.latency_ns < 50_000_000);
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let ok = writeln!(out, "{}", Line::new(msg).to_json()).is_ok();
        ok && (!flush || out.flush().is_ok())
    }

    fn flush(&self) {
        let _ = self.0.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }

    /// A heartbeat line every `every` until the process exits (also while one execute takes minutes). When one
    /// cannot be written the host is gone (etbench interrupted, ssh or adb connection closed): the process exits
    /// with code 3 rather than compute for no one, so a remote runner outlives its host by one heartbeat at most.
    fn heartbeats(&self, every: std::time::Duration) {
        let out = self.clone();
        let start = std::time::Instant::now();
        std::thread::spawn(move || loop {
            std::thread::sleep(every);
            let beat =
                Message::Heartbeat(etbench_protocol::Heartbeat { uptime_ms: start.elapsed().as_millis() as u64 });
            if !out.write(beat) {
                std::process::exit(3);
            }
        });
    }
}

impl Emit for Stdout {
    fn emit(&mut self, msg: Message) -> bool {
        self.write(msg)
    }
}

fn spec(args: &Args) -> Result<RunSpec, String> {
    match (&args.spec, &args.spec_file) {
        (Some(spec), _) => Ok(spec.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("--spec-file {}: {e}", path.display()))?;
            parse_spec(&text).map_err(|e| format!("--spec-file {}: {e}", path.display()))
        }
        (None, None) => Ok(RunSpec::default()),
    }
}

fn main() {
    let args = Args::parse();
    let spec = spec(&args).unwrap_or_else(|e| {
        eprintln!("etbench-runner: error: {e}");
        std::process::exit(2);
    });
    let invocation = Invocation {
        models: args.models,
        spec,
        dump_output: args.dump_output,
        etdump: args.etdump,
        describe: args.describe,
        sysfs_root: args.sysfs_root,
    };
    let mut out = Stdout(Arc::new(Mutex::new(BufWriter::new(std::io::stdout()))));
    if invocation.spec.heartbeat_s > 0.0 && !invocation.describe {
        out.heartbeats(std::time::Duration::from_secs_f64(invocation.spec.heartbeat_s));
    }
    let result = run(&invocation, &mut out);
    out.flush();
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}
