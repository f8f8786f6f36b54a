//! `etbench-runner`: the device-side program. Loads one `.pte`, runs the timed phases, and writes the versioned
//! JSON-lines protocol on stdout (the runtime's own logs go to stderr). Exit 0 = ok, 1 = the run failed (an error
//! line says why), 2 = bad arguments.

use std::io::{BufWriter, Write};

use clap::Parser;
use etbench_ffi::run::{run, Emit, InputRequest, RunConfig};
use etbench_protocol::{Dtype, LoadMode, Line, Message};

#[derive(Parser, Debug)]
#[command(name = "etbench-runner", version, about = "Time an ExecuTorch .pte on this device (driven by etbench)")]
struct Args {
    /// Path of the .pte program.
    model: String,
    /// Method to run.
    #[arg(long, default_value = "forward")]
    method: String,
    /// How the program is loaded: mmap (default), file (read into memory) or mlock.
    #[arg(long, default_value = "mmap")]
    load_mode: LoadMode,
    /// Warm-up iterations after the first (cold) forward.
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Timed iterations (at least 1).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// CPU threads for ExecuTorch's threadpool (default: the runtime's choice).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Token ids, comma separated (default: ids[i] = 2 + (i*31) % 509, as many as the method takes).
    #[arg(long, value_delimiter = ',', conflicts_with = "input_file")]
    input_ids: Option<Vec<i64>>,
    /// File of token ids (integers separated by whitespace or commas; a JSON array works).
    #[arg(long)]
    input_file: Option<String>,
    /// Expected input dtype (int64 or int32); refused if the method takes another.
    #[arg(long, value_parser = parse_dtype)]
    input_dtype: Option<Dtype>,
    /// Write the raw little-endian bytes of output 0 after the last timed iteration to this file.
    #[arg(long)]
    dump_output: Option<String>,
    /// Leading input positions that hold real tokens (the rest is padding); the argmax is read at the last one.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    real_tokens: Option<u32>,
    /// Greedily generate N tokens after the timed loop (one full forward per token: no KV cache).
    #[arg(long, default_value_t = 0)]
    generate: u32,
    /// Print the meta line (methods, input/output specs) and exit without loading the method.
    #[arg(long)]
    describe: bool,
    /// Before loading, wait until every thermal zone is below this temperature (°C).
    #[arg(long)]
    thermal_gate: Option<f64>,
    /// Longest wait for --thermal-gate, in seconds (a timeout is recorded, the run goes on).
    #[arg(long, default_value_t = 300.0)]
    gate_timeout: f64,
    /// Pin the runner and its threads to these CPUs (hex mask, e.g. 0xf0 for the big cores).
    #[arg(long)]
    cpu_affinity: Option<String>,
    /// Profile: record an ETDump (per-operator events) of every execute and write it to this file at the end of
    /// the timed loop. Profiling adds overhead per operator: compare profiled runs only with profiled runs.
    #[arg(long)]
    etdump: Option<String>,
    /// Run inside a new memory cgroup limited to this size (e.g. 512M, 6G; no swap): exceeding it gets the runner
    /// OOM-killed, as on a device with that much RAM. Needs a writable cgroup tree (root).
    #[arg(long, value_parser = etbench_ffi::conditions::parse_bytes)]
    memory_limit: Option<u64>,
    /// Measure streaming memory bandwidth (256 MiB read) before loading, for the roofline in reports.
    #[arg(long)]
    bandwidth_probe: bool,
    /// Root of sysfs for device conditions (for tests: a fake tree).
    #[arg(long, default_value = "/sys", hide = true)]
    sysfs_root: std::path::PathBuf,
}

fn parse_dtype(s: &str) -> Result<Dtype, String> {
    match s {
        "int64" | "long" => Ok(Dtype::Int64),
        "int32" | "int" => Ok(Dtype::Int32),
        _ => Err(format!("unsupported input dtype `{s}`: use int64 or int32")),
    }
}

/// Writes protocol lines to stdout; a closed pipe ends the run without an error.
struct Stdout(BufWriter<std::io::Stdout>);

impl Emit for Stdout {
    fn emit(&mut self, msg: Message) -> bool {
        let flush = !matches!(msg, Message::Sample(_));
        let ok = writeln!(self.0, "{}", Line::new(msg).to_json()).is_ok();
        ok && (!flush || self.0.flush().is_ok())
    }
}

fn main() {
    let args = Args::parse();
    let input = match (args.input_ids, args.input_file) {
        (Some(ids), _) => InputRequest::List(ids),
        (None, Some(path)) => InputRequest::File(path),
        (None, None) => InputRequest::Default,
    };
    let config = RunConfig {
        model: args.model,
        method: args.method,
        load_mode: args.load_mode,
        warmup: args.warmup,
        iterations: args.iters,
        threads: args.threads,
        input,
        input_dtype: args.input_dtype,
        dump_output: args.dump_output,
        real_tokens: args.real_tokens,
        generate: args.generate,
        describe: args.describe,
        thermal_gate: args.thermal_gate,
        gate_timeout: std::time::Duration::from_secs_f64(args.gate_timeout.max(0.0)),
        cpu_affinity: args.cpu_affinity,
        sysfs_root: args.sysfs_root,
        etdump: args.etdump,
        memory_limit: args.memory_limit,
        bandwidth_probe: args.bandwidth_probe,
    };
    let mut out = Stdout(BufWriter::new(std::io::stdout()));
    let result = run(&config, &mut out);
    let _ = out.0.flush();
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}
