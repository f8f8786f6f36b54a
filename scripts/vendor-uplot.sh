#!/usr/bin/env bash
# Re-fetches the dashboard's chart library (uPlot, MIT) from the npm registry into harness/src/export/site/vendor/:
# the minified IIFE build, its CSS and its LICENSE. The version is pinned and the tarball's sha256 checked, so a
# re-fetch either reproduces the committed files or fails. To upgrade: change both values, run, review the diff.
set -euo pipefail
VERSION=1.6.32
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
cd "$(dirname "$0")/.."
dest=harness/src/export/site/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$VERSION" >/dev/null)
tarball="$tmp/uplot-$VERSION.tgz"
echo "$SHA256  $tarball" | sha256sum --check --quiet - || {
    echo "vendor-uplot: uplot-$VERSION.tgz does not have the pinned sha256 $SHA256; refusing to vendor it" >&2
    exit 1
}
tar -xzf "$tarball" -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dest/"
cp "$tmp/package/LICENSE" "$dest/uPlot-LICENSE"
echo "vendor-uplot: uPlot $VERSION in $dest"
