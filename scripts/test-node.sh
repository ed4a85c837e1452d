#!/usr/bin/env bash
# npm run test:node24 / test:node22 — the unit tier on another Node major, beside the system Node.
#
#   scripts/test-node.sh <major> [jest args...]
#
# The runtime comes from the npm registry's `node` package (node@<major>, the newest release of that
# major on the first run), installed under $DOUBLETAP_STACK_DIR/node<major>/ (default
# <repo>/.stack/node<major>, git-ignored) and reused from there; delete that folder to pick up a newer
# release. Dependencies are installed and compiled by the system Node as for `npm test`; jest then
# runs under the chosen Node, and its bin directory goes first on PATH so child processes that run
# `node` get the same one. The unit tier needs no local stack.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${DOUBLETAP_STACK_DIR:-$ROOT/.stack}"

major="${1:-}"
[[ "$major" =~ ^[0-9]+$ ]] || { echo "usage: scripts/test-node.sh <node major> [jest args...]" >&2; exit 2; }
shift

bash "$ROOT/scripts/ensure-deps.sh"
cd "$ROOT"

dir="$STACK_DIR/node$major"
NODE_BIN="$dir/node_modules/node/bin/node"

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true; }

if [[ "$(node_major "$NODE_BIN")" != "$major" ]]; then
  echo "doubletap: installing node@$major from the npm registry into $dir" >&2
  # into a fresh folder, moved into place only once it runs: an interrupted install is never reused
  tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  # the package's preinstall fetches the platform binary (node-<os>-<arch>); allow that one script
  printf '{ "private": true, "allowScripts": { "node": true } }\n' >"$tmp/package.json"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$tmp" "node@$major" >&2
  [[ "$(node_major "$tmp/node_modules/node/bin/node")" == "$major" ]] \
    || { echo "doubletap: node@$major from the npm registry did not install a working Node $major" >&2; exit 1; }
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
fi

export PATH="$dir/node_modules/node/bin:$PATH"
echo "doubletap: unit tier on Node $("$NODE_BIN" -v) ($NODE_BIN)" >&2
# the caller's arguments go before --selectProjects: it takes a list, and would swallow a trailing
# test path pattern as a second project name
exec "$NODE_BIN" node_modules/jest/bin/jest.js --ci "$@" --selectProjects unit
