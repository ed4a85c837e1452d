#!/usr/bin/env bash
# doubletap local Redis Cluster: three masters, no replicas, no persistence, Debian's redis-server.
#
#   scripts/stack/redis-cluster.sh up       start what is missing, create the cluster once, wait for cluster_state:ok
#   scripts/stack/redis-cluster.sh status   one line per master (--json: one document); exit 0 only when the cluster is ok
#   scripts/stack/redis-cluster.sh down     stop the masters by pid file and forget the cluster (nodes.conf removed)
#   scripts/stack/redis-cluster.sh env      REDIS_URL=redis+cluster://127.0.0.1:17101,...
#
# Everything lives under $DOUBLETAP_STACK_DIR/redis-cluster/ (pid files, logs, nodes-<port>.conf).
# Ports: DOUBLETAP_REDIS_CLUSTER_PORTS="17101 17102 17103" (each also uses port + 10000 for the cluster bus).
# No persistence and no replicas: a master that dies loses its slots' data, and the cluster stays
# down (cluster_state:fail) until it is started again, empty (docs/adr/0017-redis-cluster-read-side.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${DOUBLETAP_STACK_DIR:-$ROOT/.stack}"
RC_DIR="$STACK_DIR/redis-cluster"
read -r -a RC_PORTS <<<"${DOUBLETAP_REDIS_CLUSTER_PORTS:-17101 17102 17103}"

die() { echo "redis-cluster: $*" >&2; exit 1; }
say() { echo "redis-cluster: $*" >&2; }

[[ ${#RC_PORTS[@]} -ge 3 ]] || die "DOUBLETAP_REDIS_CLUSTER_PORTS needs at least 3 ports (a cluster needs 3 masters), got '${RC_PORTS[*]}'"
for p in "${RC_PORTS[@]}"; do [[ "$p" =~ ^[0-9]+$ && "$p" -lt 55535 ]] || die "'$p' is not a usable port (the bus uses port + 10000)"; done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

rc_pid() { # port -> pid of the redis-server this script started on it (pid file + comm check)
  local f="$RC_DIR/redis-$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  # redis-server daemonizes: its cmdline does not carry the stack dir, its pid file (ours) does
  [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server ]] || return 1
  echo "$pid"
}

rc_cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
rc_ping() { [[ "$(rc_cli "$1" PING 2>/dev/null)" == PONG ]]; }
rc_state() { rc_cli "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | awk -F: '$1 == "cluster_state" { print $2 }'; }
rc_known() { rc_cli "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | awk -F: '$1 == "cluster_known_nodes" { print $2 }'; }

rc_ok() { # every master says cluster_state:ok and knows all of them
  local p
  for p in "${RC_PORTS[@]}"; do
    [[ "$(rc_state "$p")" == ok && "$(rc_known "$p")" == "${#RC_PORTS[@]}" ]] || return 1
  done
}

wait_until() { # seconds command...
  local secs="$1" i; shift
  for ((i = 0; i < secs * 4; i++)); do "$@" && return 0; sleep 0.25; done
  return 1
}

start_one() { # port
  local port="$1" pid
  if pid="$(rc_pid "$port")"; then rc_ping "$port" && return 0; fi
  port_open "$port" && die "port $port is busy but not by this cluster's redis-server: stop it or set DOUBLETAP_REDIS_CLUSTER_PORTS"
  port_open $((port + 10000)) && die "cluster bus port $((port + 10000)) is busy: stop that process or choose other ports"
  mkdir -p "$RC_DIR/$port"
  redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes --cluster-config-file "$RC_DIR/nodes-$port.conf" \
    --cluster-node-timeout 2000 --save "" --appendonly no --maxmemory-policy noeviction --dir "$RC_DIR/$port" \
    --daemonize yes --pidfile "$RC_DIR/redis-$port.pid" --logfile "$RC_DIR/redis-$port.log" >/dev/null
  wait_until 15 rc_ping "$port" || die "redis-server on :$port did not answer within 15s (log: $RC_DIR/redis-$port.log)"
  say "master up on 127.0.0.1:$port (pid $(cat "$RC_DIR/redis-$port.pid"))"
}

cmd_up() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
    die "redis-server/redis-cli not found (Debian: apt-get install redis-server)"
  mkdir -p "$RC_DIR"
  if rc_ok; then say "cluster already ok on ${RC_PORTS[*]}"; return 0; fi
  local p fresh=true
  for p in "${RC_PORTS[@]}"; do start_one "$p"; done
  # a master that kept its nodes.conf still knows the cluster: only meet again when nobody has slots
  for p in "${RC_PORTS[@]}"; do
    [[ "$(rc_cli "$p" CLUSTER INFO | tr -d '\r' | awk -F: '$1 == "cluster_slots_assigned" { print $2 }')" == 0 ]] || fresh=false
  done
  if [[ "$fresh" == true ]]; then
    local nodes=()
    for p in "${RC_PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$RC_DIR/create.log" 2>&1 ||
      { tail -20 "$RC_DIR/create.log" >&2; die "redis-cli --cluster create failed (log: $RC_DIR/create.log)"; }
    say "cluster created (${nodes[*]}, 16384 slots over ${#nodes[@]} masters, no replicas)"
  fi
  wait_until 30 rc_ok || { cmd_status >&2 || true; die "cluster_state is not ok after 30s (a master that restarted empty lost its slots: \`down\` then \`up\` recreates the cluster)"; }
  say "cluster ok on 127.0.0.1:${RC_PORTS[0]} ... :${RC_PORTS[-1]}"
}

cmd_down() {
  local p pid i
  for p in "${RC_PORTS[@]}"; do
    pid="$(rc_pid "$p")" || { rm -f "$RC_DIR/redis-$p.pid"; continue; }
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do [[ -d "/proc/$pid" ]] || break; sleep 0.25; done
    [[ -d "/proc/$pid" ]] && { say "master :$p (pid $pid) did not stop in 15s, killing"; kill -KILL "$pid" 2>/dev/null || true; }
    rm -f "$RC_DIR/redis-$p.pid"
    say "master :$p stopped (pid $pid)"
  done
  # no persistence: the data is gone, so is the cluster; the next up creates it anew
  for p in "${RC_PORTS[@]}"; do rm -f "$RC_DIR/nodes-$p.conf"; done
}

cmd_status() { # [--json]
  local p pid health out=() all=ok
  for p in "${RC_PORTS[@]}"; do
    pid="$(rc_pid "$p" || echo null)"
    if ! rc_ping "$p"; then health=down; all=down
    elif [[ "$(rc_state "$p")" == ok ]]; then health=healthy
    else health="$(rc_state "$p")"; health="cluster_${health:-unknown}"; all=down; fi
    out+=("$p $health $pid")
  done
  if [[ "${1:-}" == --json ]]; then
    local first=true line
    printf '{"state":"%s","url":"%s","masters":[' "$all" "$(cmd_url)"
    for line in "${out[@]}"; do
      read -r p health pid <<<"$line"
      $first || printf ','
      first=false
      printf '{"address":"127.0.0.1:%s","health":"%s","pid":%s}' "$p" "$health" "$pid"
    done
    printf ']}\n'
  else
    for line in "${out[@]}"; do
      read -r p health pid <<<"$line"
      printf '%-9s %-45s %-9s %s\n' "rcluster" "127.0.0.1:$p" "$health" "$([[ $pid == null ]] && echo - || echo "$pid")"
    done
  fi
  [[ "$all" == ok ]]
}

cmd_url() {
  local p nodes=()
  for p in "${RC_PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
  (IFS=,; echo "redis+cluster://${nodes[*]}")
}

cmd_running() { # exit 0 when any master of this cluster runs (stack.sh status shows it then)
  local p
  for p in "${RC_PORTS[@]}"; do rc_pid "$p" >/dev/null && return 0; done
  return 1
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status "${2:-}" ;;
  env) echo "REDIS_URL=$(cmd_url)" ;;
  url) cmd_url ;;
  running) cmd_running ;;
  *)
    echo "usage: redis-cluster.sh <up|down|status [--json]|env|url|running>  (ports: DOUBLETAP_REDIS_CLUSTER_PORTS, default '17101 17102 17103')" >&2
    exit 2
    ;;
esac
