#!/usr/bin/env bash
# npm start — the whole system on the local stack: dependencies, build, Kafka + registry + Redis,
# topics and schemas, then the apps (api, aggregator, projector) in the foreground. Ctrl-C stops the
# apps gracefully; `npm run stack:down` stops the stack. `npm start -- --api 3 --aggregators 2`:
# several instances, HAProxy in front of the api replicas (`npm start -- --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# `npm start -- --help`: the options of scripts/run-apps.js (several instances, HAProxy), nothing started
for arg in "$@"; do
  if [[ "$arg" == -h || "$arg" == --help ]]; then
    bash "$ROOT/scripts/ensure-deps.sh" >&2
    exec node "$ROOT/scripts/run-apps.js" --help
  fi
done
bash "$ROOT/scripts/stack/up.sh"
eval "$(bash "$ROOT/scripts/stack/stack.sh" env | sed 's/^/export /')"
exec node "$ROOT/scripts/run-apps.js" "$@"
