#!/usr/bin/env bash
# Installs the npm dependencies from the committed lockfile when node_modules is missing or stale,
# then compiles (incremental). Every entry point (start, test, stack:up) calls this first, so a fresh
# clone needs nothing but Node 20+, Java 17+ and Maven.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
[[ "$major" -ge 20 ]] || { echo "doubletap: Node.js 20 or newer is required (found $(node -v 2>/dev/null || echo none))" >&2; exit 1; }

# one entry point at a time: `npm start` and `npm test` begun together on a fresh clone would
# otherwise run two `npm ci` (and two LevelDB builds) in the same node_modules and break both
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ROOT/.doubletap-deps.lock"
  flock 9
fi

stamp="node_modules/.doubletap-lock.sha256"
# the lockfile and the patches applied to node_modules after install (patch-package, postinstall)
want="$(cat package-lock.json patches/*.patch | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "doubletap: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$stamp"
fi

if [[ "${1:-}" != "--no-build" ]]; then
  npx tsc -p tsconfig.build.json
fi
