use std::process::ExitCode;

fn main() -> ExitCode {
    etbench::cli::main().unwrap_or_else(|e| {
        eprintln!("etbench: error: {e:#}");
        etbench::cli::exit_code(&e)
    })
}
