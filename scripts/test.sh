#!/usr/bin/env bash
# npm test — every tier (unit, integration, e2e). Installs dependencies, builds (e2e runs the built
# apps), and the integration tiers bring the local stack up when it is not running.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/ensure-deps.sh"
cd "$ROOT"
# the e2e tier drives headless Chromium (apps/api/test/page.e2e.test.ts) and runs Debian's
# prometheus against the apps (test/deploy/prometheus.e2e.test.ts); the integration and e2e tiers
# run Debian's haproxy (libs/balancer, test/e2e/load-balancer.e2e.test.ts)
case " $* " in
  *" unit "*) ;;
  *" integration "*) bash "$ROOT/scripts/ensure-haproxy.sh" ;;
  *)
    bash "$ROOT/scripts/ensure-chromium.sh"
    bash "$ROOT/scripts/ensure-prometheus.sh"
    bash "$ROOT/scripts/ensure-haproxy.sh"
    ;;
esac
exec npx jest --ci "$@"
