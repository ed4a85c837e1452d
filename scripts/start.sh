#!/usr/bin/env bash
# npm start — the whole system on the local stack: dependencies, build, Kafka + registry + Redis,
# topics and schemas, then the apps (api, aggregator, projector) in the foreground. Ctrl-C stops the
# apps gracefully; `npm run stack:down` stops the stack.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/stack/up.sh"
eval "$(bash "$ROOT/scripts/stack/stack.sh" env | sed 's/^/export /')"
exec node "$ROOT/scripts/run-apps.js" "$@"
