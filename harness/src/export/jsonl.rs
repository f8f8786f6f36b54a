//! JSON Lines: one run per line (the same `RunResult` schema as `results.json`), for `jq -c`, log shippers and
//! databases that ingest a record per line.

use crate::results::Document;

pub fn render(doc: &Document) -> Vec<u8> {
    let mut out = Vec::new();
    for run in &doc.runs {
        serde_json::to_writer(&mut out, run).expect("the result document is plain data");
        out.push(b'\n');
    }
    out
}
