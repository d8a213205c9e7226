#!/usr/bin/env bash
# The self-contained release: leadd built in its own tree with everything but glibc linked in
# (static Boost, OpenSSL, C++ runtime; spdlog and fmt header-only; see cmake/Dist.cmake and
# cmake/StaticLinking.cmake), stripped, its debug info kept in a separate file.
#
#   scripts/dist.sh [--build-dir DIR] [--out-dir DIR]        (defaults: build/dist, dist)
#
# Writes to the out dir, after removing the leadd-* files an earlier run left there:
#   leadd-<version>-linux-x86_64          the stripped binary
#   leadd-<version>-linux-x86_64.debug    its debug info (gdb finds it through .gnu_debuglink)
#   leadd-<version>-linux-x86_64.tar.gz   leadd-<version>-linux-x86_64/: leadd, README.md,
#                                         LICENSE* and SECURITY.md when present, leadd.service,
#                                         leadd.env
#   leadd-<version>-linux-x86_64.sha256   checksums of the three
# and prints the binary's path last. Refuses to finish if the binary needs any shared library
# beyond glibc's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/dist
out=$root/dist
while (($#)); do
    case $1 in
        --build-dir) build=$2; shift 2 ;;
        --out-dir) out=$2; shift 2 ;;
        *) echo "usage: scripts/dist.sh [--build-dir DIR] [--out-dir DIR]" >&2; exit 2 ;;
    esac
done

# ccache hits from another checkout of the same sources too (CI builds in a fresh clone): paths
# relative to the source root, and no hashing of the build directory, which -g otherwise adds.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
cmake -S "$root" -B "$build" -C "$root/cmake/Dist.cmake" --log-level=WARNING
cmake --build "$build" -j "$(nproc)" --target leadd
bin=$build/leadd

# glibc's libraries are the only ones a Debian 12 machine is sure to have.
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for lib in $needed; do
    case $lib in
        libc.so.6 | libm.so.6 | ld-linux-x86-64.so.2 | libpthread.so.0 | libdl.so.2 | librt.so.1) ;;
        *) echo "dist.sh: $bin needs $lib, which is not part of glibc" >&2; exit 1 ;;
    esac
done

version=$("$bin" version | awk '{print $2}')
name=leadd-$version-linux-x86_64
mkdir -p "$out"
rm -f "$out"/leadd-*
objcopy --only-keep-debug --compress-debug-sections=zlib "$bin" "$out/$name.debug"
chmod 0644 "$out/$name.debug"
strip --strip-all -o "$out/$name" "$bin"
objcopy --add-gnu-debuglink="$out/$name.debug" "$out/$name"
chmod 0755 "$out/$name"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
cp "$out/$name" "$stage/$name/leadd"
cp "$root/README.md" "$root/packaging/leadd.service" "$root/packaging/leadd.env" "$stage/$name/"
for extra in "$root"/LICENSE* "$root/SECURITY.md"; do
    if [[ -f $extra ]]; then cp "$extra" "$stage/$name/"; fi
done
# Same inputs, same tarball: fixed owner, order and timestamps (the commit's time).
epoch=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -cf - "$name" |
    gzip -9n >"$out/$name.tar.gz"
(cd "$out" && sha256sum "$name" "$name.tar.gz" "$name.debug" >"$name.sha256")

echo "dist.sh: $(stat -c %s "$out/$name") bytes stripped, needs only: $(echo $needed)" >&2
echo "$out/$name"
