#!/usr/bin/env bash
# Packs the aarch64 glibc etbench-runner into a bundle that brings its own loader and libraries, for Android phones
# without an NDK build (shared notes §7): there is no glibc on a phone, so the runner is started from the bundle's
# directory as
#     lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner ARGS
#   scripts/bundle-android.sh [--runner PATH] [--out DIR]
# Defaults: runner $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/etbench-runner, out
# $CARGO_TARGET_DIR/runner-bundles/aarch64-linux-android (CARGO_TARGET_DIR defaults to ./target);
# `scripts/build-runner.sh --target aarch64-linux-android` builds the runner and calls this.
# Contents: etbench-runner (debug info stripped); lib/: the ExecuTorch .so files from the runner's RUNPATH (the
# executorch wheel that ffi/build.rs unpacked), ld-linux-aarch64.so.1 and the recursive DT_NEEDED closure, taken
# from Debian's arm64 packages libc6, libstdc++6, libgcc-s1 (apt-get download, cached beside the bundle in
# .debian-arm64/; needs `dpkg --add-architecture arm64 && apt-get update` once, done here when root); licences/
# (the packages' copyright files, ExecuTorch's LICENSE); MANIFEST (path, sha256, origin, licence; tab-separated);
# README (the launch command). Refused (exit 1, naming the file): an unsatisfied DT_NEEDED, a symbol version
# (readelf -V) that no bundled library defines, a loader from another glibc build than libc.so.6, a LOAD segment
# aligned below 0x4000 (16 KiB-page phones, Android 15+).
# A run from this bundle measures glibc malloc and libstdc++, not bionic and libc++: record that with the results.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "bundle-android.sh: $*" >&2; exit 1; }
tdir="${CARGO_TARGET_DIR:-target}"
runner="$tdir/aarch64-unknown-linux-gnu/release/etbench-runner"
out="$tdir/runner-bundles/aarch64-linux-android"
while [ $# -gt 0 ]; do
    case "$1" in
        --runner) runner="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "bundle-android.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -f "$runner" ] || die "no runner at $runner (scripts/build-runner.sh --target aarch64-linux-android builds it)"
readelf=aarch64-linux-gnu-readelf
command -v "$readelf" >/dev/null || readelf=readelf
command -v "$readelf" >/dev/null || die "readelf missing: apt-get install binutils-aarch64-linux-gnu"
strip=aarch64-linux-gnu-strip
command -v "$strip" >/dev/null || strip=""
for tool in sha256sum dpkg-deb apt-get; do command -v "$tool" >/dev/null || die "$tool missing"; done
"$readelf" -hW "$runner" 2>/dev/null | grep -q 'Machine:.*AArch64' || die "$runner is not an aarch64 ELF file"
out="${out%/}"
mkdir -p "$(dirname "$out")"

# --- Debian's arm64 glibc and GCC runtime -------------------------------------------------------------------------
cache="$tdir/runner-bundles/.debian-arm64"
mkdir -p "$cache/debs"
apt_ready=""
fetch() { # PKG: the arm64 .deb of PKG in $cache/debs (downloaded once)
    compgen -G "$cache/debs/${1}_*_arm64.deb" >/dev/null && return 0
    if [ -z "$apt_ready" ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        [ "$(id -u)" = 0 ] || die "apt knows no arm64 packages: as root run dpkg --add-architecture arm64 && apt-get update (scripts/lab/setup.sh does)"
        echo "bundle-android.sh: dpkg --add-architecture arm64 && apt-get update" >&2
        dpkg --add-architecture arm64 && apt-get update -qq
        apt_ready=1
    fi
    echo "bundle-android.sh: apt-get download $1:arm64" >&2
    (cd "$cache/debs" && apt-get download -qq "$1:arm64" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
    compgen -G "$cache/debs/${1}_*_arm64.deb" >/dev/null || die "apt-get download $1:arm64 failed (apt-get update first?)"
}
unpack() { # PKG -> prints the directory PKG's newest cached .deb is unpacked in; sets $version
    local deb
    deb="$(ls "$cache/debs/${1}"_*_arm64.deb | sort -V | tail -1)"
    version="$(dpkg-deb -f "$deb" Version)"
    local root="$cache/root/$1_$version"
    if [ ! -d "$root" ]; then
        rm -rf "$root.tmp" && mkdir -p "$root.tmp" && dpkg -x "$deb" "$root.tmp" && mv "$root.tmp" "$root"
    fi
    unpacked="$root"
}
search=()                       # library directories, searched in this order
declare -A dir_origin dir_licence copyright copyright_origin
# 1. ExecuTorch: the runner's RUNPATH entry that holds libexecutorch.so
runpath="$("$readelf" -dW "$runner" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p; s/.*(RPATH).*\[\(.*\)\]/\1/p' | head -1)"
wheel_lib=""
IFS=: read -ra rp <<< "$runpath"
for d in "${rp[@]}"; do
    d="${d//\$ORIGIN/$(dirname "$runner")}"
    [ -f "$d/libexecutorch.so" ] && { wheel_lib="$d"; break; }
done
[ -n "$wheel_lib" ] || die "$runner: no RUNPATH entry holds libexecutorch.so (RUNPATH: ${runpath:-none})"
et_version="$(sed -n "s/^__version__ *= *['\"]\([^'\"]*\).*/\1/p" "$wheel_lib/../version.py" 2>/dev/null | head -1)"
search+=("$wheel_lib")
dir_origin[$wheel_lib]="executorch ${et_version:-?} wheel (manylinux_2_28_aarch64)"
dir_licence[$wheel_lib]="BSD-3-Clause (ExecuTorch and the third-party code it bundles: licences/executorch-LICENSE)"
# 2. Debian packages, each unpacked apart so that every file's package is known
for pkg in libc6 libstdc++6 libgcc-s1; do
    fetch "$pkg"; unpack "$pkg"
    case "$pkg" in
        libc6) lic="LGPL-2.1-or-later (glibc; licences/libc6.copyright)" ;;
        *) lic="GPL-3.0-or-later WITH GCC-exception-3.1 (licences/gcc-base.copyright)" ;;
    esac
    for d in "$unpacked/lib/aarch64-linux-gnu" "$unpacked/usr/lib/aarch64-linux-gnu"; do
        [ -d "$d" ] || continue
        search+=("$d"); dir_origin[$d]="Debian $pkg:arm64 $version"; dir_licence[$d]="$lic"
    done
    doc="$unpacked/usr/share/doc/$pkg"
    if [ -L "$doc" ]; then  # libstdc++6 and libgcc-s1 keep their copyright in gcc-N-base
        base="$(basename "$(readlink "$doc")")"
        fetch "$base"; unpack "$base"
        copyright[gcc-base]="$unpacked/usr/share/doc/$base/copyright"; copyright_origin[gcc-base]="Debian $base:arm64 $version"
    else
        copyright[$pkg]="$doc/copyright"; copyright_origin[$pkg]="Debian $pkg:arm64 $version"
    fi
done

# --- the DT_NEEDED closure ------------------------------------------------------------------------------------------
needed() { "$readelf" -dW "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
declare -A from                 # library name -> directory it comes from
queue=("$runner" "ld-linux-aarch64.so.1")
while [ ${#queue[@]} -gt 0 ]; do
    item="${queue[0]}"; queue=("${queue[@]:1}")
    if [ "$item" = ld-linux-aarch64.so.1 ]; then names=(ld-linux-aarch64.so.1); else mapfile -t names < <(needed "$item"); fi
    for name in "${names[@]}"; do
        [ -n "${from[$name]:-}" ] && continue
        for d in "${search[@]}"; do [ -e "$d/$name" ] && { from[$name]="$d"; break; }; done
        [ -n "${from[$name]:-}" ] || die "unsatisfied DT_NEEDED $name (needed by $item); searched: ${search[*]}"
        queue+=("${from[$name]}/$name")
    done
done

# --- assemble into a scratch directory, check, then replace the bundle --------------------------------------------
tmp="$out.tmp"
rm -rf "$tmp" && mkdir -p "$tmp/lib" "$tmp/licences"
gcc_comment="$("$readelf" -p .comment "$runner" 2>/dev/null | sed -n 's/.*\(GCC: .*\)$/\1/p' | sort -u | head -1 | sed 's/ *$//')"
rustc_comment="$("$readelf" -p .comment "$runner" 2>/dev/null | sed -n 's/.*\(rustc version [^ ]*\).*/\1/p' | head -1)"
if [ -n "$strip" ]; then
    "$strip" --strip-debug -o "$tmp/etbench-runner" "$runner"
    runner_origin="etbench build (aarch64-unknown-linux-gnu${rustc_comment:+, $rustc_comment}${gcc_comment:+, $gcc_comment}; debug info stripped)"
else
    cp "$runner" "$tmp/etbench-runner"
    runner_origin="etbench build (aarch64-unknown-linux-gnu${rustc_comment:+, $rustc_comment}${gcc_comment:+, $gcc_comment})"
fi
chmod 0755 "$tmp/etbench-runner"
declare -A file_origin file_licence
file_origin[etbench-runner]="$runner_origin"; file_licence[etbench-runner]="Apache-2.0"
for name in "${!from[@]}"; do
    cp -L "${from[$name]}/$name" "$tmp/lib/$name"
    chmod 0644 "$tmp/lib/$name"
    file_origin[lib/$name]="${dir_origin[${from[$name]}]}"; file_licence[lib/$name]="${dir_licence[${from[$name]}]}"
done
chmod 0755 "$tmp/lib/ld-linux-aarch64.so.1"
cp "$wheel_lib/../../executorch-${et_version}.dist-info/licenses/LICENSE" "$tmp/licences/executorch-LICENSE" 2>/dev/null ||
    find "$wheel_lib/../.." -maxdepth 3 -path '*dist-info*' -name 'LICENSE*' -exec cp {} "$tmp/licences/executorch-LICENSE" \; -quit
[ -f "$tmp/licences/executorch-LICENSE" ] || die "no LICENSE of the executorch wheel found near $wheel_lib"
file_origin[licences/executorch-LICENSE]="${dir_origin[$wheel_lib]}"; file_licence[licences/executorch-LICENSE]="BSD-3-Clause"
for key in "${!copyright[@]}"; do
    [ -f "${copyright[$key]}" ] || die "no copyright file ${copyright[$key]}"
    cp "${copyright[$key]}" "$tmp/licences/$key.copyright"
    file_origin[licences/$key.copyright]="${copyright_origin[$key]} (its copyright file)"
    file_licence[licences/$key.copyright]="(licence text)"
done
echo "lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner ARGS" > "$tmp/README"
file_origin[README]="etbench build (scripts/bundle-android.sh)"; file_licence[README]="Apache-2.0"

problems=()
needs_seen=()
declare -A defines
versions_defined() { # lib name -> the symbol versions lib/NAME defines (cached)
    if [ -z "${defines[$1]+x}" ]; then
        defines[$1]=" $("$readelf" -VW "$tmp/lib/$1" 2>/dev/null | awk '/^Version definition section/{s=1;next} /^Version (needs|symbols) section/{s=0}
            s && /Rev:/ {for(i=1;i<NF;i++) if($i=="Name:") printf "%s ", $(i+1)}') "
    fi
    printf '%s' "${defines[$1]}"
}
for f in "$tmp/etbench-runner" "$tmp"/lib/*; do
    rel="${f#"$tmp"/}"
    "$readelf" -hW "$f" >/dev/null 2>&1 || { problems+=("$rel: not an ELF file"); continue; }
    for name in $(needed "$f"); do
        [ -f "$tmp/lib/$name" ] || problems+=("$rel: DT_NEEDED $name is not in the bundle's lib/")
    done
    while read -r align; do
        [ -n "$align" ] || continue
        (( align >= 0x4000 )) || problems+=("$rel: a LOAD segment is aligned to $align, below 0x4000 (fails on 16 KiB-page phones)")
    done < <("$readelf" -lW "$f" | awk '$1=="LOAD"{print $NF}')
    while read -r lib ver; do
        needs_seen+=("$lib $ver")
        [ -f "$tmp/lib/$lib" ] || continue   # reported above
        case "$(versions_defined "$lib")" in *" $ver "*) ;; *) problems+=("$rel: needs symbol version $ver of $lib, which lib/$lib (${file_origin[lib/$lib]}) does not define") ;; esac
    done < <("$readelf" -VW "$f" | awk '/^Version needs section/{s=1;next} /^Version (definition|symbols) section/{s=0}
        s && /File:/ {for(i=1;i<NF;i++) if($i=="File:") lib=$(i+1); next}
        s && /Name:/ {for(i=1;i<NF;i++) if($i=="Name:") print lib, $(i+1)}')
done
[ "${file_origin[lib/ld-linux-aarch64.so.1]}" = "${file_origin[lib/libc.so.6]:-}" ] ||
    problems+=("lib/ld-linux-aarch64.so.1 (${file_origin[lib/ld-linux-aarch64.so.1]}) and lib/libc.so.6 (${file_origin[lib/libc.so.6]:-missing}) must come from one glibc build")
if [ ${#problems[@]} -gt 0 ]; then
    rm -rf "$out.rejected" && mv "$tmp" "$out.rejected"
    printf 'bundle-android.sh: refused: %s\n' "${problems[@]}" >&2
    die "bundle refused (${#problems[@]} problem(s)); the rejected files are in $out.rejected"
fi

{
    printf '# etbench Android bundle: path\tsha256\torigin\tlicence (launch: see README)\n'
    (cd "$tmp" && find . -type f ! -name MANIFEST | sed 's|^\./||' | LC_ALL=C sort) | while read -r rel; do
        printf '%s\t%s\t%s\t%s\n' "$rel" "$(sha256sum "$tmp/$rel" | cut -d' ' -f1)" "${file_origin[$rel]:-?}" "${file_licence[$rel]:-?}"
    done
} > "$tmp/MANIFEST"
grep -q $'\t?\t\|\t?$' "$tmp/MANIFEST" && die "internal: a file without origin or licence in $tmp/MANIFEST"
# The newest symbol version each bundled library is asked for, and the newest it defines (the libstdc++ of the
# cross g++ that built the runner sets the floor: GCC 12 -> GLIBCXX_3.4.30).
for lib in libstdc++.so.6 libc.so.6 libgcc_s.so.1 libm.so.6; do
    [ -f "$tmp/lib/$lib" ] || continue
    want="$(printf '%s\n' "${needs_seen[@]}" | awk -v l="$lib" '$1==l && $2 !~ /PRIVATE/ {print $2}' | sort -uV | tail -1)"
    have="$(versions_defined "$lib" | tr ' ' '\n' | grep -E "^${want%%_[0-9]*}_[0-9]" | sort -V | tail -1)"
    echo "bundle-android.sh: $lib: the bundle needs up to ${want:-none}, lib/$lib defines up to $have (${file_origin[lib/$lib]})" >&2
done
rm -rf "$out" && mv "$tmp" "$out"
bytes="$(du -sb "$out" | cut -f1)"
echo "bundle-android.sh: $out: $(find "$out" -type f | wc -l) files, $(( (bytes + 524288) / 1048576 )) MiB ($bytes bytes)" >&2
echo "bundle-android.sh: launch from that directory: $(cat "$out/README")" >&2
