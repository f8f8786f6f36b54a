//! Finds the ExecuTorch C++ SDK (headers + shared libraries), compiles the cxx bridge and `cpp/`, and links.
//!
//! Discovery order (first hit wins):
//! 1. `ETBENCH_EXECUTORCH_DIR`: a directory with `include/` and `lib/` (e.g. an unpacked `executorch` wheel's
//!    `executorch/` folder, or your own build's install prefix).
//! 2. The `executorch` package of `ETBENCH_PYTHON` (default `python3`), when building for the host's architecture.
//! 3. `pip download` of the pinned wheel (`executorch==1.5.1`) for the *target* architecture into `OUT_DIR`,
//!    unpacked there (needs pip and access to PyPI once; cached afterwards). `ETBENCH_NO_DOWNLOAD=1` disables it.
//!
//! The runner gets an rpath to the SDK's `lib/` plus `$ORIGIN` and `$ORIGIN/lib`, so it starts without
//! `LD_LIBRARY_PATH` here and when shipped with its libraries next to it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const PINNED_VERSION: &str = "1.5.1";
/// Kernels and backends register themselves in static initialisers that nothing references, so they must be
/// linked with `--no-as-needed` or the runtime reports "Missing operator" / "backend not registered".
const SELF_REGISTERING_LIBS: [&str; 3] =
    ["executorch_kernels_optimized", "executorch_kernels_quantized", "executorch_backend_xnnpack"];
const PLAIN_LIBS: [&str; 3] = ["executorch", "executorch_threadpool", "executorch_etdump"];

fn main() {
    let sdk = match find_sdk() {
        Ok(sdk) => sdk,
        Err(tried) => fail(&tried),
    };
    let version = sdk_version(&sdk);
    println!("cargo:rustc-env=ETBENCH_EXECUTORCH_VERSION={version}");
    println!("cargo:rustc-env=ETBENCH_EXECUTORCH_LIB_DIR={}", sdk.join("lib").display());
    println!("cargo:rustc-env=ETBENCH_TARGET={}", env::var("TARGET").unwrap_or_default());
    println!("cargo:lib_dir={}", sdk.join("lib").display());
    println!("cargo:include_dir={}", sdk.join("include").display());

    compile_bridge(&sdk);
    link(&sdk.join("lib"));
}

/// Reads an environment variable and tells cargo to rebuild when it changes.
fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn is_sdk(dir: &Path) -> bool {
    dir.join("include/executorch/extension/module/module.h").is_file() && dir.join("lib/libexecutorch.so").is_file()
}

fn find_sdk() -> Result<PathBuf, Vec<String>> {
    let mut tried = Vec::new();
    if let Some(dir) = env_var("ETBENCH_EXECUTORCH_DIR") {
        let dir = PathBuf::from(dir);
        if is_sdk(&dir) {
            return Ok(dir);
        }
        // An explicit choice that is wrong is an error, not a reason to silently pick something else.
        fail(&[format!(
            "ETBENCH_EXECUTORCH_DIR={} has no include/executorch/extension/module/module.h or lib/libexecutorch.so",
            dir.display()
        )]);
    }
    tried.push("ETBENCH_EXECUTORCH_DIR is not set".to_owned());

    let python = env_var("ETBENCH_PYTHON").unwrap_or_else(|| "python3".to_owned());
    if same_arch_as_host() {
        match installed_package(&python) {
            Some(dir) if is_sdk(&dir) => return Ok(dir),
            Some(dir) => tried.push(format!("{python}: executorch at {} lacks include/ or lib/", dir.display())),
            None => tried.push(format!("{python}: no importable executorch package")),
        }
    } else {
        tried.push("installed executorch package skipped: cross-compiling".to_owned());
    }

    if env_var("ETBENCH_NO_DOWNLOAD").is_some() {
        tried.push("download disabled by ETBENCH_NO_DOWNLOAD".to_owned());
        return Err(tried);
    }
    match download_wheel(&python) {
        Ok(dir) => Ok(dir),
        Err(e) => {
            tried.push(e);
            Err(tried)
        }
    }
}

fn same_arch_as_host() -> bool {
    let host = env::var("HOST").unwrap_or_default();
    let target = env::var("TARGET").unwrap_or_default();
    host.split('-').next() == target.split('-').next()
}

fn installed_package(python: &str) -> Option<PathBuf> {
    // `executorch` is a namespace package: `origin` is None, the search location is the directory.
    let probe = "import importlib.util as u; s = u.find_spec('executorch'); \
                 print(list(s.submodule_search_locations)[0] if s else '')";
    let out = Command::new(python).args(["-c", probe]).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

fn download_wheel(python: &str) -> Result<PathBuf, String> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let platform = match (os.as_str(), arch.as_str()) {
        ("linux", "x86_64") => "manylinux_2_28_x86_64",
        ("linux", "aarch64") => "manylinux_2_28_aarch64",
        _ => return Err(format!("no executorch wheel exists for {os}/{arch}; point ETBENCH_EXECUTORCH_DIR at an SDK")),
    };
    let root = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join(format!("executorch-{PINNED_VERSION}-{platform}"));
    let sdk = root.join("executorch");
    if is_sdk(&sdk) {
        return Ok(sdk);
    }
    let wheels = root.join("wheel");
    let status = Command::new(python)
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"])
        .args(["--platform", platform, "--python-version", "3.11", "--implementation", "cp"])
        .arg("--dest")
        .arg(&wheels)
        .arg(format!("executorch=={PINNED_VERSION}"))
        .status()
        .map_err(|e| format!("could not run `{python} -m pip download`: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`{python} -m pip download executorch=={PINNED_VERSION}` for {platform} failed ({status})"
        ));
    }
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("{}: {e}", wheels.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("pip download left no wheel in {}", wheels.display()))?;
    let status = Command::new(python)
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&root)
        .status()
        .map_err(|e| format!("could not unpack {}: {e}", wheel.display()))?;
    if !status.success() || !is_sdk(&sdk) {
        return Err(format!("unpacking {} gave no SDK at {}", wheel.display(), sdk.display()));
    }
    Ok(sdk)
}

fn sdk_version(sdk: &Path) -> String {
    std::fs::read_to_string(sdk.join("version.py"))
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("__version__"))?;
            Some(line.split('"').nth(1)?.to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn compile_bridge(sdk: &Path) {
    let cpp = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../cpp");
    let include = sdk.join("include");
    cxx_build::bridge("src/bridge.rs")
        .file(cpp.join("runner.cpp"))
        .file(cpp.join("bare_loop.cpp"))
        .include(&cpp)
        .include(&include)
        .include(include.join("executorch/runtime/core/portable_type/c10"))
        // The values the wheel's cmake config puts on its targets: mismatched defines break the ABI.
        .define("C10_USING_CUSTOM_GENERATED_MACROS", None)
        .define("ET_EVENT_TRACER_ENABLED", None)
        .define("ET_USE_THREADPOOL", None)
        .std("c++17")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .compile("etbench_cpp");
    for file in ["runner.h", "runner.cpp", "bare_loop.cpp"] {
        println!("cargo:rerun-if-changed={}", cpp.join(file).display());
    }
    println!("cargo:rerun-if-changed=src/bridge.rs");
}

fn link(lib: &Path) {
    println!("cargo:rustc-link-search=native={}", lib.display());
    for name in PLAIN_LIBS {
        println!("cargo:rustc-link-lib=dylib={name}");
    }
    println!("cargo:rustc-link-arg=-Wl,--push-state,--no-as-needed");
    for name in SELF_REGISTERING_LIBS {
        println!("cargo:rustc-link-arg={}", lib.join(format!("lib{name}.so")).display());
    }
    println!("cargo:rustc-link-arg=-Wl,--pop-state");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN:$ORIGIN/lib");
}

fn fail(tried: &[String]) -> ! {
    let mut msg = String::from("etbench-ffi: could not find the ExecuTorch C++ SDK.\nTried:\n");
    for t in tried {
        msg.push_str(&format!("  - {t}\n"));
    }
    msg.push_str(&format!(
        "Options:\n  - set ETBENCH_EXECUTORCH_DIR to a directory with include/ and lib/ (an unpacked executorch=={PINNED_VERSION} wheel's executorch/ folder)\n  - `pip install executorch=={PINNED_VERSION}` into the python named by ETBENCH_PYTHON (default python3)\n  - allow the automatic `pip download` (needs pip and PyPI; unset ETBENCH_NO_DOWNLOAD)\n"
    ));
    eprintln!("{msg}");
    panic!("{msg}");
}
