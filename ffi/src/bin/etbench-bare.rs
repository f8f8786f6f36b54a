//! `etbench-bare`: the overhead baseline. Runs `bare_forward_loop` (plain C++ `Module::forward` calls) and prints one
//! JSON object with its latencies and its process's peak RSS, for comparison with `etbench-runner`.
//! Usage: etbench-bare MODEL.pte [WARMUP] [ITERS]

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(model) = args.next() else {
        eprintln!("usage: etbench-bare MODEL.pte [WARMUP] [ITERS]");
        std::process::exit(2);
    };
    let mut number = |default: u32| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (warmup, iters) = (number(3), number(20));
    match etbench_ffi::bare_forward_loop(&model, warmup, iters) {
        Ok(latencies) => {
            let memory = etbench_ffi::run::memory_now();
            let doc = serde_json::json!({ "latencies_ns": latencies, "memory": memory });
            println!("{doc}");
        }
        Err(e) => {
            eprintln!("etbench-bare: {model}: {e}");
            std::process::exit(1);
        }
    }
}
