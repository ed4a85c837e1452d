#!/usr/bin/env bash
# Builds classic-level's LevelDB from source after patch-package applied patches/classic-level+*.patch
# (postinstall). The patched build reads LEVELDB_MMAP_LIMIT, which the aggregator's runtime profile
# sets to 0: table files are read with pread into LevelDB's bounded block cache instead of being
# mapped, so the process's RSS stops growing with its stores (ADR 0026). node-gyp-build loads
# build/Release before the package's prebuilds, so without a compiler nothing breaks: the prebuilt
# binary is used, LEVELDB_MMAP_LIMIT has no effect, and the RSS again counts the mapped tables.
# Needs g++, make and python3; DOUBLETAP_LEVELDB_PREBUILT=1 skips the build.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="$ROOT/node_modules/classic-level"
[[ -d "$PKG" ]] || exit 0
if [[ "${DOUBLETAP_LEVELDB_PREBUILT:-}" == "1" ]]; then
  rm -rf "$PKG/build"
  exit 0
fi
want="$(cat "$ROOT"/patches/classic-level+*.patch 2>/dev/null | sha256sum | cut -d' ' -f1)-$(node -p process.version)"
stamp="$PKG/build/.doubletap-build"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && ls "$PKG"/build/Release/*.node >/dev/null 2>&1; then exit 0; fi
gyp="${npm_config_node_gyp:-}"
if [[ -z "$gyp" || ! -f "$gyp" ]]; then
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
fi
# the headers of the running node (installed next to it) rather than a download
prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
nodedir=()
[[ -f "$prefix/include/node/common.gypi" ]] && nodedir=(--nodedir="$prefix")
echo "doubletap: building LevelDB (classic-level) from source with the no-mmap patch (ADR 0026)" >&2
if (cd "$PKG" && node "$gyp" rebuild "${nodedir[@]}" -j 2 >"$PKG/build-doubletap.log" 2>&1); then
  echo "$want" >"$stamp"
else
  rm -rf "$PKG/build"
  echo "doubletap: WARNING: LevelDB could not be built from source (see $PKG/build-doubletap.log; needs g++, make, python3);" >&2
  echo "doubletap: the prebuilt binary is used: the aggregator's RSS will count LevelDB's mapped table files" >&2
fi
exit 0
