# shellcheck shell=bash
# The "cluster" profile of the local stack, sourced by stack.sh (`--brokers 3` or DOUBLETAP_BROKERS=3):
# three KRaft nodes (each broker+controller: a 3-voter quorum, so one node may die), its own
# Apicurio registry and its own Redis, all under $STACK_DIR/cluster/ and on their own ports, so it
# runs beside the single-node stack. Fault scenarios kill, pause and flush its parts; that is why it
# never shares a process (Redis included) with the single-node stack or the machine.
#
#   node n (1..3): broker 127.0.0.1:(29092 + 2(n-1)), controller the port after it, node.id n
#   registry 127.0.0.1:28081 (management :28082), Redis 127.0.0.1:26379 (no persistence)
#
# Layout: cluster/broker-<n>/{server.properties,data/}, cluster/registry/ (H2), cluster/redis/,
# cluster/run/<part>.pid (+ <part>.logpos: where the log of the current run starts), cluster/logs/<part>.log,
# cluster/formatted (cluster id and the initial voters, written once).

CL_DIR="$STACK_DIR/cluster"
CL_RUN="$CL_DIR/run"
CL_LOGS="$CL_DIR/logs"
CL_KAFKA_PORT="${DOUBLETAP_CLUSTER_KAFKA_PORT:-29092}"
CL_REGISTRY_PORT="${DOUBLETAP_CLUSTER_REGISTRY_PORT:-28081}"
CL_REGISTRY_MGMT_PORT="${DOUBLETAP_CLUSTER_REGISTRY_MGMT_PORT:-28082}"
CL_REDIS_PORT="${DOUBLETAP_CLUSTER_REDIS_PORT:-26379}"
CL_KAFKA_HEAP="${DOUBLETAP_CLUSTER_KAFKA_HEAP:-384m}"
CL_NODES=(1 2 3)
CL_PARTS=(broker-1 broker-2 broker-3 registry redis)

cl_broker_port() { echo $((CL_KAFKA_PORT + 2 * ($1 - 1))); }
cl_controller_port() { echo $((CL_KAFKA_PORT + 2 * ($1 - 1) + 1)); }
cl_join() { local IFS=,; echo "$*"; }
cl_brokers() { local n a=(); for n in "${CL_NODES[@]}"; do a+=("127.0.0.1:$(cl_broker_port "$n")"); done; cl_join "${a[@]}"; }
cl_controllers() { local n a=(); for n in "${CL_NODES[@]}"; do a+=("127.0.0.1:$(cl_controller_port "$n")"); done; cl_join "${a[@]}"; }
cl_registry_url() { echo "http://127.0.0.1:$CL_REGISTRY_PORT/apis/ccompat/v7"; }

cl_address() { # part -> address shown by status
  case "$1" in
    broker-*) echo "127.0.0.1:$(cl_broker_port "${1#broker-}")" ;;
    registry) cl_registry_url ;;
    redis) echo "127.0.0.1:$CL_REDIS_PORT" ;;
  esac
}

cl_port() { # part -> the TCP port it serves
  case "$1" in
    broker-*) cl_broker_port "${1#broker-}" ;;
    registry) echo "$CL_REGISTRY_PORT" ;;
    redis) echo "$CL_REDIS_PORT" ;;
  esac
}

cl_pid() { # part -> pid of its live process, started from this cluster dir; fails otherwise
  local f="$CL_RUN/$1.pid" pid cmd
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ && -d "/proc/$pid" ]] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1 # a zombie has an empty one
  if [[ "$1" == redis ]]; then
    # redis-server rewrites its command line to "redis-server <addr>": check its name and our port
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server && "$cmd" == *":$CL_REDIS_PORT"* ]] || return 1
  else
    [[ "$cmd" == *"-Ddoubletap.stack=$CL_DIR "* && "$cmd" == *"-Ddoubletap.part=$1 "* ]] || return 1
  fi
  echo "$pid"
}

cl_mark_start() { # part: remember where this run's log starts (health reads only what follows)
  mkdir -p "$CL_RUN" "$CL_LOGS"
  touch "$CL_LOGS/$1.log"
  stat -c %s "$CL_LOGS/$1.log" >"$CL_RUN/$1.logpos"
  echo "---- doubletap stack: $1 starting at $(date -Is)" >>"$CL_LOGS/$1.log"
}

cl_log_since_start() { # part
  local pos=0
  [[ -f "$CL_RUN/$1.logpos" ]] && pos="$(cat "$CL_RUN/$1.logpos")"
  tail -c +"$((pos + 1))" "$CL_LOGS/$1.log" 2>/dev/null || true
}

cl_wait_healthy() { # part seconds -> waits for cl_healthy; fails at once when the process has exited
  local part="$1" secs="$2" i pid
  pid="$(cat "$CL_RUN/$part.pid" 2>/dev/null)" || return 1
  for ((i = 0; i < secs * 4; i++)); do
    cl_healthy "$part" && return 0
    # not cl_pid: right after the fork the child is still bash (its exec comes a moment later)
    proc_gone "$pid" && return 1
    sleep 0.25
  done
  return 1
}

cl_healthy() { # part: its process is ours, running (not stopped) and answering
  local pid
  pid="$(cl_pid "$1")" || return 1
  proc_paused "$pid" && return 1
  case "$1" in
    # "Kafka Server started" is logged once the node has caught up with the metadata log and the
    # controller unfenced it, i.e. it has (re)joined the cluster and may lead partitions
    broker-*) port_open "$(cl_port "$1")" && grep -q "Kafka Server started" < <(cl_log_since_start "$1") ;;
    registry) curl -fsS -m 2 "$(cl_registry_url)/subjects" >/dev/null 2>&1 ;;
    redis) redis_ping 127.0.0.1 "$CL_REDIS_PORT" ;;
  esac
}

cl_health() { # part -> healthy | paused | unhealthy (starting, or the port is held by something else) | down
  local pid
  if pid="$(cl_pid "$1")"; then
    if proc_paused "$pid"; then echo paused; elif cl_healthy "$1"; then echo healthy; else echo unhealthy; fi
  elif port_open "$(cl_port "$1")"; then
    echo unhealthy
  else
    echo down
  fi
}

# ---------------------------------------------------------------- cluster: kafka
cl_broker_config() { # n
  local n="$1"
  mkdir -p "$CL_DIR/broker-$n/data"
  cat >"$CL_DIR/broker-$n/server.properties" <<EOF
# generated by scripts/stack/cluster.sh: node $n of the local 3-node KRaft cluster (broker+controller)
process.roles=broker,controller
node.id=$n
# dynamic quorum (KIP-853): the voters are in the metadata log since \`format --initial-controllers\`
controller.quorum.bootstrap.servers=$(cl_controllers)
listeners=PLAINTEXT://127.0.0.1:$(cl_broker_port "$n"),CONTROLLER://127.0.0.1:$(cl_controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(cl_broker_port "$n")
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$CL_DIR/broker-$n/data
num.partitions=1
# durability, as production would have it: an acks=all write is on 2 of 3 replicas before it is
# acknowledged, and a replica that missed acknowledged writes never becomes leader
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=12
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
# classic groups (kafkajs): a member may ask for a session down to 2 s (KAFKA_SESSION_TIMEOUT_MS; the
# broker default floor is 6 s), so a standby takes over a killed member's partitions in seconds (ADR 0018)
group.min.session.timeout.ms=2000
# KIP-848 consumer groups: the broker owns session and heartbeat; local runs detect a dead member
# in seconds (defaults are 45 s / 5 s), and a group may lower its own session to 2 s by group config
group.consumer.min.session.timeout.ms=2000
group.consumer.session.timeout.ms=10000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=1000
auto.create.topics.enable=false
delete.topic.enable=true
log.segment.bytes=134217728
log.cleaner.dedupe.buffer.size=33554432
EOF
}

kafka_uuid() { # a random Kafka Uuid (16 random bytes, base64url, no padding), without starting a JVM
  local u
  while :; do
    u="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    [[ "$u" != -* ]] && break # Kafka never hands out ids that start with '-' (they read like options)
  done
  echo "$u"
}

cl_format() { # formats the three nodes once, with the same cluster id and initial voters
  local n
  if [[ -f "$CL_DIR/formatted" ]]; then
    for n in "${CL_NODES[@]}"; do
      [[ -f "$CL_DIR/broker-$n/data/meta.properties" ]] ||
        die "broker-$n has lost its data ($CL_DIR/broker-$n/data): the cluster cannot be repaired by formatting one node again; \`stack.sh reset --brokers 3\` starts it anew"
    done
    return 0
  fi
  local java cluster_id voters=() initial pids=()
  java="$(find_java 17)" || die "no Java 17+ found: install a JDK or set JAVA_HOME"
  cluster_id="$(kafka_uuid)"
  # --initial-controllers (not a static controller.quorum.voters): every node is formatted with the
  # same three voters, each with its own directory id; the voter set then lives in the replicated
  # metadata log, so a node killed with -9 restarts on its own data and rejoins as the same voter
  for n in "${CL_NODES[@]}"; do voters+=("$n@127.0.0.1:$(cl_controller_port "$n"):$(kafka_uuid)"); done
  initial="$(cl_join "${voters[@]}")"
  mkdir -p "$CL_LOGS"
  for n in "${CL_NODES[@]}"; do
    rm -rf "$CL_DIR/broker-$n/data"
    cl_broker_config "$n"
    "$java" -Xmx128m -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.yaml" -cp "$(kafka_cp)" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$CL_DIR/broker-$n/server.properties" \
      --initial-controllers "$initial" >"$CL_LOGS/format-$n.log" 2>&1 </dev/null &
    pids+=($!)
  done
  for n in "${CL_NODES[@]}"; do
    wait "${pids[$((n - 1))]}" || { cat "$CL_LOGS/format-$n.log" >&2; die "formatting broker-$n failed"; }
  done
  printf 'cluster.id=%s\ninitial.controllers=%s\n' "$cluster_id" "$initial" >"$CL_DIR/formatted"
  say "cluster storage formatted (cluster $cluster_id, voters $initial)"
}

cl_broker_start() { # n: starts the node on its existing data (no wait)
  local n="$1" part="broker-$1" java port ctrl
  java="$(find_java 17)" || die "no Java 17+ found: install a JDK or set JAVA_HOME"
  port="$(cl_broker_port "$n")"; ctrl="$(cl_controller_port "$n")"
  port_open "$port" && die "port $port is busy but not by this cluster's $part: stop that process or set DOUBLETAP_CLUSTER_KAFKA_PORT"
  port_open "$ctrl" && die "port $ctrl (controller of $part) is busy: stop that process or set DOUBLETAP_CLUSTER_KAFKA_PORT"
  cl_broker_config "$n"
  cl_mark_start "$part"
  "$java" -Xms"$CL_KAFKA_HEAP" -Xmx"$CL_KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.yaml" \
    -Ddoubletap.stack="$CL_DIR" -Ddoubletap.part="$part" -cp "$(kafka_cp)" kafka.Kafka "$CL_DIR/$part/server.properties" \
    >>"$CL_LOGS/$part.log" 2>&1 </dev/null &
  echo $! >"$CL_RUN/$part.pid"
}

cl_brokers_up() {
  local n pid
  cl_format
  # all missing nodes start together: one alone has no quorum and would never report started
  for n in "${CL_NODES[@]}"; do
    if pid="$(cl_pid "broker-$n")"; then
      proc_paused "$pid" && die "broker-$n is paused (pid $pid): \`stack.sh fault --brokers 3 resume broker-$n\`"
      continue
    fi
    cl_broker_start "$n"
  done
  for n in "${CL_NODES[@]}"; do
    cl_wait_healthy "broker-$n" 180 ||
      { tail -20 "$CL_LOGS/broker-$n.log" >&2; die "broker-$n did not start within 180s (log: $CL_LOGS/broker-$n.log)"; }
  done
  say "kafka cluster up on $(cl_brokers) (pids $(cat "$CL_RUN"/broker-{1,2,3}.pid | tr '\n' ' ')| controllers $(cl_controllers))"
}

# ---------------------------------------------------------------- cluster: registry, redis
cl_registry_start() { # starts the registry unless it runs; does not wait
  local pid version
  if pid="$(cl_pid registry)"; then
    proc_paused "$pid" && die "registry is paused (pid $pid): \`stack.sh fault --brokers 3 resume registry\`"
    return 0
  fi
  port_open "$CL_REGISTRY_PORT" && die "port $CL_REGISTRY_PORT is busy but not by the cluster's registry: stop that process or set DOUBLETAP_CLUSTER_REGISTRY_PORT"
  port_open "$CL_REGISTRY_MGMT_PORT" && die "port $CL_REGISTRY_MGMT_PORT is busy: stop that process or set DOUBLETAP_CLUSTER_REGISTRY_MGMT_PORT"
  mkdir -p "$CL_DIR/registry"
  cl_mark_start registry
  # its own H2 file: schema ids survive a registry restart, and never mix with the single stack's
  version="$(registry_launch "$CL_REGISTRY_PORT" "$CL_REGISTRY_MGMT_PORT" "$CL_DIR/registry/registry" "$CL_DIR" registry \
    "$CL_LOGS/registry.log" "$CL_RUN/registry.pid")"
  say "cluster registry starting (Apicurio $version, pid $(cat "$CL_RUN/registry.pid"))"
}

cl_registry_wait() {
  cl_wait_healthy registry 90 || { tail -20 "$CL_LOGS/registry.log" >&2; die "cluster registry did not answer within 90s (log: $CL_LOGS/registry.log)"; }
  say "cluster registry up on $(cl_registry_url) (pid $(cat "$CL_RUN/registry.pid"))"
}

cl_registry_up() { # starts it when needed, waits until it answers
  cl_registry_start
  cl_registry_wait
}

cl_redis_up() {
  local pid
  if pid="$(cl_pid redis)"; then
    proc_paused "$pid" && die "redis is paused (pid $pid): \`stack.sh fault --brokers 3 resume redis\`"
    cl_wait_healthy redis 10 && { say "cluster redis running (pid $pid)"; return 0; }
    die "cluster redis (pid $pid) does not answer PING on 127.0.0.1:$CL_REDIS_PORT"
  fi
  port_open "$CL_REDIS_PORT" &&
    die "port $CL_REDIS_PORT is busy but not by the cluster's Redis (the cluster never reuses a Redis: its fault scenarios kill and flush it); stop that process or set DOUBLETAP_CLUSTER_REDIS_PORT"
  ensure_redis_server "$CL_LOGS"
  mkdir -p "$CL_DIR/redis"
  # no persistence, and nothing left to load: a restarted Redis is always empty (the data-loss fault)
  rm -f "$CL_DIR/redis/dump.rdb" && rm -rf "$CL_DIR/redis/appendonlydir"
  cl_mark_start redis
  # in the foreground of its own background job (not --daemonize): $! is its pid and the pid file is ours
  redis-server --bind 127.0.0.1 --port "$CL_REDIS_PORT" --save "" --appendonly no --dir "$CL_DIR/redis" \
    --logfile "$CL_LOGS/redis.log" >/dev/null 2>&1 </dev/null &
  echo $! >"$CL_RUN/redis.pid"
  cl_wait_healthy redis 15 || die "cluster redis did not answer within 15s (log: $CL_LOGS/redis.log)"
  say "cluster redis up on 127.0.0.1:$CL_REDIS_PORT (pid $(cat "$CL_RUN/redis.pid"))"
}

# ---------------------------------------------------------------- cluster: commands
cl_up() {
  fetch
  mkdir -p "$CL_RUN" "$CL_LOGS"
  cl_registry_start # it needs no Kafka: the slowest JVM to boot boots while the brokers do
  cl_brokers_up
  cl_registry_wait
  cl_redis_up
}

cl_down() { # stops every part by pid file; the brokers together (one by one, the last ones lose their quorum anyway)
  local part pid pids=() names=()
  [[ -d "$CL_RUN" ]] || return 0
  for part in "${CL_PARTS[@]}"; do
    if pid="$(cl_pid "$part")"; then
      kill -TERM "$pid" 2>/dev/null || true
      kill -CONT "$pid" 2>/dev/null || true # a paused process only acts on SIGTERM once continued
      pids+=("$pid"); names+=("$part")
    fi
  done
  local i
  for i in "${!pids[@]}"; do
    if ! wait_gone "${pids[$i]}" 60; then
      say "${names[$i]} (pid ${pids[$i]}) did not stop in 60s, killing"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
      wait_gone "${pids[$i]}" 10 || true
    fi
    say "cluster ${names[$i]} stopped (pid ${pids[$i]})"
  done
  for part in "${CL_PARTS[@]}"; do rm -f "$CL_RUN/$part.pid"; done
}

cl_status() { # [--json]; exit 0 only when every part is healthy
  local part h all=0 pid
  declare -A health pid_of
  for part in "${CL_PARTS[@]}"; do
    h="$(cl_health "$part")"; health[$part]="$h"
    [[ "$h" == healthy ]] || all=1
    pid_of[$part]="$(cl_pid "$part" || echo null)"
  done
  if [[ "${1:-}" == --json ]]; then
    local out=() n
    for n in "${CL_NODES[@]}"; do
      part="broker-$n"
      out+=("$(printf '"%s":{"address":"%s","controller":"127.0.0.1:%s","nodeId":%s,"health":"%s","pid":%s}' \
        "$part" "$(cl_address "$part")" "$(cl_controller_port "$n")" "$n" "${health[$part]}" "${pid_of[$part]}")")
    done
    for part in registry redis; do
      out+=("$(printf '"%s":{"address":"%s","health":"%s","pid":%s}' "$part" "$(cl_address "$part")" "${health[$part]}" "${pid_of[$part]}")")
    done
    echo "{$(cl_join "${out[@]}")}"
  else
    printf '%-9s %-45s %-9s %s\n' PART ADDRESS HEALTH PID
    for part in "${CL_PARTS[@]}"; do
      pid="${pid_of[$part]}"
      printf '%-9s %-45s %-9s %s\n' "$part" "$(cl_address "$part")" "${health[$part]}" "$([[ $pid == null ]] && echo - || echo "$pid")"
    done
  fi
  return "$all"
}

cl_pids() { # [--json]
  local part out=()
  for part in "${CL_PARTS[@]}"; do out+=("$(printf '"%s":%s' "$part" "$(cl_pid "$part" || echo null)")"); done
  if [[ "${1:-}" == --json ]]; then echo "{$(cl_join "${out[@]}")}"; else for part in "${CL_PARTS[@]}"; do echo "$part $(cl_pid "$part" || echo -)"; done; fi
}

cl_env() {
  echo "KAFKA_BROKERS=$(cl_brokers)"
  echo "SCHEMA_REGISTRY_URL=$(cl_registry_url)"
  echo "REDIS_URL=redis://127.0.0.1:$CL_REDIS_PORT"
  echo "TOPIC_REPLICATION_FACTOR=3"
}

cl_fault() { # action part
  local action="$1" part="$2" pid
  [[ " ${CL_PARTS[*]} " == *" $part "* ]] || die "unknown part '$part' of the cluster profile (${CL_PARTS[*]})"
  if [[ "$action" == start ]]; then
    if pid="$(cl_pid "$part")"; then
      proc_paused "$pid" && die "$part is paused (pid $pid), not stopped: \`fault --brokers 3 resume $part\`"
      cl_wait_healthy "$part" 180 || die "$part (pid $pid) runs but is not healthy (log: $CL_LOGS/$part.log)"
      say "$part already running (pid $pid)"
      return 0
    fi
    case "$part" in
      broker-*)
        [[ -f "$CL_DIR/formatted" ]] || die "the cluster was never started: \`stack.sh up --brokers 3\`"
        cl_broker_start "${part#broker-}"
        # it waits for the quorum (needs one other node) and for the metadata log to catch up
        cl_wait_healthy "$part" 180 ||
          { tail -20 "$CL_LOGS/$part.log" >&2; die "$part did not rejoin within 180s (log: $CL_LOGS/$part.log)"; }
        say "$part started on $(cl_address "$part") (pid $(cat "$CL_RUN/$part.pid"))"
        ;;
      registry) cl_registry_up ;;
      redis) cl_redis_up ;;
    esac
    return 0
  fi
  pid="$(cl_pid "$part")" || die "$part is not running (nothing to $action)"
  signal_part "$part" "$pid" "$action"
}
