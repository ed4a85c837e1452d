#!/usr/bin/env bash
# npm test — every tier (unit, integration, e2e). Installs dependencies, builds (e2e runs the built
# apps), and the integration tiers bring the local stack up when it is not running.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/ensure-deps.sh"
cd "$ROOT"
exec npx jest --ci "$@"
