#!/usr/bin/env bash
# npm run stack:up — dependencies, build, the stack's processes, then topics and schemas.
# `npm run stack:up -- --brokers 3` (or DOUBLETAP_BROKERS=3) does it for the 3-broker cluster profile.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$ROOT/scripts/ensure-deps.sh"
bash "$ROOT/scripts/stack/stack.sh" up "$@"
eval "$(bash "$ROOT/scripts/stack/stack.sh" env "$@" | sed 's/^/export /')"
node "$ROOT/bin/doubletap.js" setup
bash "$ROOT/scripts/stack/stack.sh" status "$@"
