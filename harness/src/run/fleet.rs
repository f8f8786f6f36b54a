//! Several devices at once: one worker thread per device, each running its own [`Plan`] through
//! [`sweep::execute`]. A device is never used by two runs at once: each worker holds an exclusive lock file for its
//! device (`<cache dir>/locks/<device>.lock`, also honoured by other etbench processes) for the whole sweep.
//!
//! With one device the results go straight to `OUT/results.json`. With several, each device writes
//! `OUT/<device>/results.json` after every run, and the merged document `OUT/results.json` (runs in device order)
//! is rewritten whenever a device finishes, so a failure on one device loses nothing measured on another.

use std::sync::Mutex;

use crate::device::lock::lock_device;
use crate::export::store::OutputDir;
use crate::plan::Plan;
use crate::results::Document;
use crate::run::sweep;

/// Runs every plan (one per device) concurrently and merges the results.
///
/// `priors` (one per plan, `run --resume`) are the documents of an interrupted sweep: their completed runs are kept.
pub fn execute(
    plans: &[Plan],
    out: &OutputDir,
    command: Vec<String>,
    priors: Vec<Option<Document>>,
) -> anyhow::Result<Document> {
    let mut priors = priors;
    priors.resize(plans.len(), None);
    if let [plan] = plans {
        let _lock = lock_device(plan.device.name())?;
        return sweep::execute(plan, Some(out), command, priors.pop().flatten());
    }
    let merged: Mutex<Vec<Option<Document>>> = Mutex::new(plans.iter().map(|_| None).collect());
    let outcomes: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = plans
            .iter()
            .zip(priors)
            .enumerate()
            .map(|(i, (plan, prior))| {
                let (merged, command) = (&merged, command.clone());
                scope.spawn(move || -> anyhow::Result<()> {
                    let name = plan.device.name().to_owned();
                    let _lock = lock_device(&name)?;
                    let dir = OutputDir::prepare(&out.path().join(&name))?;
                    let doc = sweep::execute(plan, Some(&dir), command, prior)?;
                    let mut all = merged.lock().expect("merge lock");
                    all[i] = Some(doc);
                    out.write_results(&merge(&all))?;
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a device worker panicked"))))
            .collect()
    });
    let docs = merged.into_inner().expect("merge lock");
    if docs.iter().all(Option::is_none) {
        outcomes.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
        anyhow::bail!("no device finished its sweep");
    }
    let doc = merge(&docs);
    out.write_results(&doc)?;
    for outcome in outcomes {
        outcome?;
    }
    Ok(doc)
}

/// One document: the first finished device's provenance, every device's runs in device order.
fn merge(docs: &[Option<Document>]) -> Document {
    let mut present = docs.iter().flatten();
    let mut doc = present.next().cloned().expect("merge is called after a device finished");
    for other in present {
        doc.runs.extend(other.runs.iter().cloned());
        doc.drift.extend(other.drift.iter().cloned());
    }
    doc
}
