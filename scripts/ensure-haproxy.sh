#!/usr/bin/env bash
# The load balancer of a multi-instance run (`npm start -- --api 3`, libs/balancer) and its tests is
# Debian's haproxy. Quiet and quick when it is there; installs the package when missing and we are
# root (or have passwordless sudo); otherwise says how and fails. HAPROXY_PATH overrides the
# executable (default: haproxy on PATH, then /usr/sbin/haproxy).
set -euo pipefail
found() {
  if [[ -n "${HAPROXY_PATH:-}" ]]; then [[ -x "$HAPROXY_PATH" ]]; return; fi
  command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]]
}
found && exit 0
if [[ -n "${HAPROXY_PATH:-}" ]]; then
  echo "doubletap: HAPROXY_PATH=$HAPROXY_PATH is not an executable" >&2
  exit 1
fi
SUDO=()
if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo -n); fi
if [[ ("$(id -u)" -eq 0 || ${#SUDO[@]} -gt 0) ]] && command -v apt-get >/dev/null 2>&1; then
  echo "doubletap: installing haproxy for the multi-instance run and its tests (apt-get)" >&2
  "${SUDO[@]}" apt-get update -qq
  # the package's own service is not used: doubletap runs haproxy with its own config, port and pid
  # file (where systemd runs, the package starts a service with /etc/haproxy/haproxy.cfg, no listener)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null
  found && exit 0
  echo "doubletap: haproxy installed but not found on PATH or at /usr/sbin/haproxy; set HAPROXY_PATH" >&2
  exit 1
fi
cat >&2 <<MSG
doubletap: the load balancer of a multi-instance run needs HAProxy (2.4 or newer).
  Debian/Ubuntu: sudo apt-get install -y --no-install-recommends haproxy
  or point HAPROXY_PATH at an existing haproxy binary.
MSG
exit 1
