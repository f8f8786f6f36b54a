//! Where etbench finds its models, device profiles and reports at run time — never a path fixed at compile time,
//! so a binary copied or moved elsewhere benchmarks what its user points it at.
//!
//! Order: `ETBENCH_HOME` (a directory holding `models/` and/or `devices/`), else the current directory when it
//! holds them, else the checkout the executable sits in (`<checkout>/target/<profile>/etbench`).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    CurrentDir,
    Checkout,
}

/// The directory etbench's data lives in, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub root: PathBuf,
    pub source: Source,
}

#[derive(Debug, thiserror::Error)]
#[error("no etbench home found; looked at {looked}. Set ETBENCH_HOME to a directory holding models/ and devices/ (or run from one)")]
pub struct HomeError {
    looked: String,
}

fn holds_data(dir: &Path) -> bool {
    dir.join("models").is_dir() || dir.join("devices").is_dir()
}

/// The source checkout this executable was built in, if it still sits in `<checkout>/target/<profile>/`
/// (integration tests run from `target/<profile>/deps/`).
pub fn checkout() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    exe.ancestors()
        .skip(1)
        .take(4)
        .find(|d| d.file_name().is_some_and(|n| n == "target"))
        .and_then(Path::parent)
        .filter(|root| root.join("Cargo.toml").is_file() && holds_data(root))
        .map(Path::to_owned)
}

/// Finds the home (see the module docs for the order).
pub fn find() -> Result<Home, HomeError> {
    let mut looked = Vec::new();
    match std::env::var_os("ETBENCH_HOME").map(PathBuf::from) {
        Some(dir) if holds_data(&dir) => return Ok(Home { root: dir, source: Source::Env }),
        Some(dir) => looked.push(format!("ETBENCH_HOME={} (no models/ or devices/ there)", dir.display())),
        None => looked.push("ETBENCH_HOME (unset)".into()),
    }
    match std::env::current_dir() {
        Ok(dir) if holds_data(&dir) => return Ok(Home { root: dir, source: Source::CurrentDir }),
        Ok(dir) => looked.push(format!("the current directory {} (no models/ or devices/)", dir.display())),
        Err(e) => looked.push(format!("the current directory ({e})")),
    }
    match checkout() {
        Some(root) => Ok(Home { root, source: Source::Checkout }),
        None => {
            let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "?".into());
            looked.push(format!("the checkout around {exe} (not inside one)"));
            Err(HomeError { looked: looked.join(", ") })
        }
    }
}

impl Home {
    pub fn models(&self) -> PathBuf {
        self.root.join("models")
    }

    pub fn devices(&self) -> PathBuf {
        self.root.join("devices")
    }

    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    pub fn tokenizer(&self) -> PathBuf {
        self.models().join("tokenizer.json")
    }
}
