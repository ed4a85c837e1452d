#!/usr/bin/env bash
# doubletap local stack: a real single-node Apache Kafka (KRaft), a Confluent-compatible schema
# registry (Apicurio Registry, ccompat API) and Redis, all on 127.0.0.1, no Docker.
#
#   scripts/stack/stack.sh up       fetch (Maven Central) + start what is missing, wait until healthy
#   scripts/stack/stack.sh status   one line per part: name, address, health  (--json for scripts)
#   scripts/stack/stack.sh down     stop what `up` started (by pid file), nothing else
#   scripts/stack/stack.sh fault <kill|term|pause|resume|start> <part>   fault injection, by pid file
#
# `--brokers 3` (or DOUBLETAP_BROKERS=3) selects the cluster profile instead (scripts/stack/cluster.sh):
# three KRaft brokers, a registry and a Redis of its own, beside the single-node stack.
#
# Everything lives under $DOUBLETAP_STACK_DIR (default <repo>/.stack, git-ignored):
#   dist/ fetched artifacts, kafka/ broker data, run/*.pid, logs/*.log, cluster/ the cluster profile
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${DOUBLETAP_STACK_DIR:-$ROOT/.stack}"
KAFKA_VERSION="${DOUBLETAP_KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${DOUBLETAP_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${DOUBLETAP_KAFKA_CONTROLLER_PORT:-19093}"
REGISTRY_PORT="${DOUBLETAP_REGISTRY_PORT:-18081}"
REGISTRY_MGMT_PORT="${DOUBLETAP_REGISTRY_MGMT_PORT:-18082}"
REDIS_PORT="${DOUBLETAP_REDIS_PORT:-6379}"
KAFKA_HEAP="${DOUBLETAP_KAFKA_HEAP:-512m}"
REGISTRY_HEAP="${DOUBLETAP_REGISTRY_HEAP:-256m}"
# Apicurio 3.1+ is built for Java 21; 3.0.x still runs on Java 17 (used only when no JDK 21+ exists).
REGISTRY_VERSION_MODERN="3.3.3"
REGISTRY_VERSION_JAVA17="3.0.9"

RUN="$STACK_DIR/run"
LOGS="$STACK_DIR/logs"
DIST="$STACK_DIR/dist"
mkdir -p "$RUN" "$LOGS" "$DIST"

die() { echo "stack: $*" >&2; exit 1; }
say() { echo "stack: $*" >&2; }

# ---------------------------------------------------------------- helpers
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { # pid file belongs to a live process started from this stack dir
  local f="$RUN/$1.pid"
  [[ -f "$f" ]] || return 1
  local pid; pid="$(cat "$f")"
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$STACK_DIR" || return 1
}

proc_paused() { # pid: stopped by SIGSTOP (a stopped process still accepts TCP connections into its backlog)
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # the name field may contain spaces: the state is the first field after ") "
  [[ "${stat%% *}" == T ]]
}

proc_gone() { # pid: exited, sockets and files released
  local stat tasks
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  [[ "${stat%% *}" == Z ]] || return 1
  # a zombie not yet reaped by its parent is gone, but a JVM's main thread turns zombie while its
  # other threads are still exiting (and still hold the listening sockets): wait for the last one
  tasks=("/proc/$1/task/"*)
  [[ ${#tasks[@]} -le 1 ]]
}

wait_gone() { # pid seconds: until the process has exited
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    proc_gone "$1" && return 0
    sleep 0.25
  done
  proc_gone "$1"
}

signal_part() { # label pid kill|term|pause|resume -> signals one process and waits for the effect
  local label="$1" pid="$2" i
  case "$3" in
    kill)
      kill -KILL "$pid"
      wait_gone "$pid" 30 || die "$label (pid $pid) still exists 30s after SIGKILL"
      say "$label killed (SIGKILL, pid $pid)"
      ;;
    term)
      kill -TERM "$pid"
      kill -CONT "$pid" 2>/dev/null || true # a paused process acts on SIGTERM only once continued
      wait_gone "$pid" 120 || die "$label (pid $pid) did not exit within 120s of SIGTERM (\`fault ... kill\` ends it)"
      say "$label stopped (SIGTERM, pid $pid)"
      ;;
    pause)
      kill -STOP "$pid"
      for ((i = 0; i < 40; i++)); do proc_paused "$pid" && break; sleep 0.25; done
      proc_paused "$pid" || die "$label (pid $pid) did not stop after SIGSTOP"
      say "$label paused (SIGSTOP, pid $pid)"
      ;;
    resume)
      kill -CONT "$pid"
      for ((i = 0; i < 40; i++)); do proc_paused "$pid" || break; sleep 0.25; done
      proc_paused "$pid" && die "$label (pid $pid) is still stopped after SIGCONT"
      say "$label resumed (SIGCONT, pid $pid)"
      ;;
    *) die "unknown fault '$3' (kill, term, pause, resume, start)" ;;
  esac
}

wait_for() { # name seconds command...
  local name="$1" secs="$2"; shift 2
  local i
  for ((i = 0; i < secs * 4; i++)); do
    if "$@"; then return 0; fi
    sleep 0.25
  done
  return 1
}

java_major() { # prints the major version of a java binary
  "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

find_java() { # find_java MIN -> path of a java binary with major >= MIN
  local min="$1" c m
  local candidates=()
  [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  for c in /usr/lib/jvm/*/bin/java; do [[ -x "$c" ]] && candidates+=("$c"); done
  for c in "${candidates[@]}"; do
    [[ -x "$c" ]] || continue
    m="$(java_major "$c" 2>/dev/null || echo 0)"
    if [[ -n "$m" && "$m" -ge "$min" ]]; then echo "$c"; return 0; fi
  done
  return 1
}

registry_choice() { # prints "<java> <apicurio-version>"
  local j
  # DOUBLETAP_REGISTRY_JAVA17=1 forces the Java 17 fallback (to test it on a machine with a newer JDK)
  if [[ "${DOUBLETAP_REGISTRY_JAVA17:-0}" != 1 ]] && j="$(find_java 21)"; then echo "$j $REGISTRY_VERSION_MODERN"; return 0; fi
  if j="$(find_java 17)"; then echo "$j $REGISTRY_VERSION_JAVA17"; return 0; fi
  return 1
}

# ---------------------------------------------------------------- fetch (Maven Central)
fetch() {
  local choice apicurio
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) not found: install it (Debian: apt-get install -y maven), it fetches Kafka and the registry from Maven Central"
  choice="$(registry_choice)" || die "no Java 17+ found: install a JDK (Debian: apt-get install -y openjdk-17-jdk-headless), or set JAVA_HOME"
  apicurio="${choice#* }"
  if [[ -f "$DIST/kafka-$KAFKA_VERSION/libs/kafka_2.13-$KAFKA_VERSION.jar" && -f "$DIST/apicurio-$apicurio/.ready" ]]; then
    return 0
  fi
  say "fetching Apache Kafka $KAFKA_VERSION and Apicurio Registry $apicurio from Maven Central (first run only)"
  local skip=false
  [[ "$apicurio" == "$REGISTRY_VERSION_JAVA17" ]] && skip=true
  mvn -q -B -f "$ROOT/deploy/local/pom.xml" -Dstack.dir="$STACK_DIR" -Dkafka.version="$KAFKA_VERSION" \
    -Dapicurio.version="$apicurio" -Dregistry.skip="$skip" package >"$LOGS/fetch.log" 2>&1 ||
    { tail -20 "$LOGS/fetch.log" >&2; die "Maven could not fetch the stack (log: $LOGS/fetch.log)"; }
  if [[ "$skip" == true ]]; then
    # 3.0.9's parent pom is not on Central, so the copy goal cannot read its descriptor: fetch the
    # tar.gz alone and take it from the local repository
    mvn -q -B dependency:get -Dartifact="io.apicurio:apicurio-registry-app:$apicurio:tar.gz:all" -Dtransitive=false \
      >>"$LOGS/fetch.log" 2>&1 || { tail -20 "$LOGS/fetch.log" >&2; die "Maven could not fetch Apicurio $apicurio (log: $LOGS/fetch.log)"; }
    cp "${MAVEN_REPO:-$HOME/.m2/repository}/io/apicurio/apicurio-registry-app/$apicurio/apicurio-registry-app-$apicurio-all.tar.gz" "$DIST/" ||
      die "Apicurio $apicurio was fetched but is not in ${MAVEN_REPO:-$HOME/.m2/repository} (set MAVEN_REPO to your local repository)"
  fi
  rm -rf "$DIST/apicurio-$apicurio" && mkdir -p "$DIST/apicurio-$apicurio"
  tar xzf "$DIST/apicurio-registry-app-$apicurio-all.tar.gz" -C "$DIST/apicurio-$apicurio"
  rm -f "$DIST/apicurio-registry-app-$apicurio-all.tar.gz"
  touch "$DIST/apicurio-$apicurio/.ready"
}

# ---------------------------------------------------------------- kafka
kafka_cp() { echo "$DIST/kafka-$KAFKA_VERSION/libs/*"; }

kafka_config() {
  mkdir -p "$STACK_DIR/kafka/data"
  cat >"$STACK_DIR/kafka/server.properties" <<EOF
# generated by scripts/stack/stack.sh: single-node KRaft broker+controller for local use
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$STACK_DIR/kafka/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# one broker: internal topics must not ask for 3 replicas, or groups never get a coordinator
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
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
# thread pools sized for a small shared machine: the defaults (3 network, 8 request-handler threads)
# are a dedicated server's; on 2 shared cores these took more likes/s through the api (ADR 0001 addendum)
num.network.threads=${DOUBLETAP_KAFKA_NETWORK_THREADS:-1}
num.io.threads=${DOUBLETAP_KAFKA_IO_THREADS:-2}
EOF
}

kafka_healthy() { port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$LOGS/kafka.log" 2>/dev/null; }

kafka_up() {
  if pid_alive kafka; then kafka_healthy && { say "kafka already running (pid $(cat "$RUN/kafka.pid"))"; return 0; }; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is busy but not by this stack's Kafka: stop that process or set DOUBLETAP_KAFKA_PORT"
  port_open "$CONTROLLER_PORT" && die "port $CONTROLLER_PORT is busy: stop that process or set DOUBLETAP_KAFKA_CONTROLLER_PORT"
  local java; java="$(find_java 17)" || die "no Java 17+ found: install a JDK or set JAVA_HOME"
  kafka_config
  if [[ ! -f "$STACK_DIR/kafka/data/meta.properties" ]]; then
    local id; id="$("$java" -cp "$(kafka_cp)" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    "$java" -Xmx128m -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.yaml" -cp "$(kafka_cp)" \
      kafka.tools.StorageTool format --standalone -t "$id" -c "$STACK_DIR/kafka/server.properties" \
      >"$LOGS/kafka-format.log" 2>&1 || { cat "$LOGS/kafka-format.log" >&2; die "formatting Kafka storage failed"; }
    say "kafka storage formatted (cluster $id)"
  fi
  : >"$LOGS/kafka.log"
  "$java" -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.yaml" \
    -Ddoubletap.stack="$STACK_DIR" -cp "$(kafka_cp)" kafka.Kafka "$STACK_DIR/kafka/server.properties" \
    >>"$LOGS/kafka.log" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
  wait_for kafka 90 kafka_healthy || { tail -20 "$LOGS/kafka.log" >&2; die "Kafka did not start within 90s (log: $LOGS/kafka.log)"; }
  say "kafka up on 127.0.0.1:$KAFKA_PORT (pid $(cat "$RUN/kafka.pid"))"
}

# ---------------------------------------------------------------- registry
registry_url() { echo "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"; }
registry_healthy() { curl -fsS -m 2 "$(registry_url)/subjects" >/dev/null 2>&1; }

registry_launch() { # port mgmt-port h2-path stack-dir part log pid-file -> starts Apicurio in the background, prints its version
  local port="$1" mgmt="$2" h2="$3" mark="$4" part="$5" log="$6" pidfile="$7"
  local choice java version dir jar
  choice="$(registry_choice)" || die "no Java 17+ found: install a JDK or set JAVA_HOME"
  java="${choice% *}"; version="${choice#* }"
  dir="$DIST/apicurio-$version"
  jar="$dir/quarkus-run.jar"; [[ -f "$jar" ]] || jar="$(ls "$dir"/*-runner.jar 2>/dev/null | head -1)"
  [[ -f "$jar" ]] || die "registry application missing in $dir: remove that folder and run up again"
  local tag=(-Ddoubletap.stack="$mark")
  [[ -n "$part" ]] && tag+=(-Ddoubletap.part="$part")
  # Storage: H2 in a file under the stack dir instead of Apicurio's in-memory default, so schema ids
  # survive a registry restart (records in Kafka carry those ids). The management interface (health,
  # metrics) binds to loopback on its own port rather than Quarkus' default 0.0.0.0:9000.
  (cd "$dir" && exec "$java" -Xms64m -Xmx"$REGISTRY_HEAP" -XX:+UseSerialGC \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$mgmt" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -Dapicurio.datasource.url="jdbc:h2:file:$h2" \
    -Dapicurio.datasource.username=sa -Dapicurio.datasource.password=sa \
    -Dquarkus.log.level=WARN \
    "${tag[@]}" -jar "$jar") >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "$version"
}

registry_up() {
  if pid_alive registry && registry_healthy; then say "registry already running (pid $(cat "$RUN/registry.pid"))"; return 0; fi
  port_open "$REGISTRY_PORT" && die "port $REGISTRY_PORT is busy but not by this stack's registry: stop that process or set DOUBLETAP_REGISTRY_PORT"
  local version
  : >"$LOGS/registry.log"
  port_open "$REGISTRY_MGMT_PORT" && die "port $REGISTRY_MGMT_PORT is busy: stop that process or set DOUBLETAP_REGISTRY_MGMT_PORT"
  mkdir -p "$STACK_DIR/registry"
  version="$(registry_launch "$REGISTRY_PORT" "$REGISTRY_MGMT_PORT" "$STACK_DIR/registry/registry" "$STACK_DIR" "" \
    "$LOGS/registry.log" "$RUN/registry.pid")"
  wait_for registry 90 registry_healthy || { tail -20 "$LOGS/registry.log" >&2; die "registry did not answer within 90s (log: $LOGS/registry.log)"; }
  say "registry up on $(registry_url) (Apicurio $version, pid $(cat "$RUN/registry.pid"))"
}

# ---------------------------------------------------------------- redis
redis_target() { # host port of the redis the stack uses
  if [[ -n "${REDIS_URL:-}" ]]; then
    local hp="${REDIS_URL#*://}"; hp="${hp#*@}"; hp="${hp%%/*}"
    echo "${hp%%:*} ${hp##*:}"
  else
    echo "127.0.0.1 $REDIS_PORT"
  fi
}

redis_ping() { # host port
  local reply
  reply="$( (exec 3<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3) 2>/dev/null || true)"
  [[ "$reply" == "+PONG"* ]]
}

ensure_redis_server() { # logs-dir: installs Debian's redis-server when missing (as root), else explains
  command -v redis-server >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing redis-server from Debian's packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >"$1/redis-install.log" 2>&1 ||
      die "could not install redis-server (log: $1/redis-install.log); install Redis 6+ or set REDIS_URL"
  else
    die "redis-server not found: install Redis (Debian: sudo apt-get install redis-server) or set REDIS_URL"
  fi
}

redis_up() {
  local host port; read -r host port < <(redis_target)
  if redis_ping "$host" "$port"; then say "redis answering on $host:$port (not started by this stack)"; return 0; fi
  [[ -n "${REDIS_URL:-}" ]] && die "REDIS_URL=$REDIS_URL does not answer PING: start that Redis or unset REDIS_URL"
  if pid_alive redis; then wait_for redis 10 redis_ping 127.0.0.1 "$port" && return 0; fi
  port_open "$port" && die "port $port is busy but does not answer Redis PING: stop that process or set DOUBLETAP_REDIS_PORT"
  ensure_redis_server "$LOGS"
  mkdir -p "$STACK_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$STACK_DIR/redis" \
    --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" >/dev/null
  wait_for redis 15 redis_ping 127.0.0.1 "$port" || die "redis did not answer within 15s (log: $LOGS/redis.log)"
  say "redis up on 127.0.0.1:$port (pid $(cat "$RUN/redis.pid"))"
}

# ---------------------------------------------------------------- haproxy (a multi-instance run's balancer)
# `npm start -- --api 3` (scripts/run-apps.js, libs/balancer startHaproxy) runs HAProxy with its
# config at $STACK_DIR/haproxy/<name>.cfg and its pid in run/<name>.pid (name: haproxy; tests use
# haproxy-<unique>). status shows each one whose pid file exists, down stops it by pid.
haproxy_names() {
  local f
  for f in "$RUN"/haproxy*.pid; do [[ -e "$f" ]] && basename "$f" .pid; done
  return 0
}

haproxy_part() { # name -> "listen stats-url health pid up/total" (health: healthy, unhealthy, down)
  local name="$1" cfg="$STACK_DIR/haproxy/$1.cfg" listen=- stats=- health=down pid=null up=0 total=0 line csv
  line="$(grep -m1 '^# doubletap-balancer ' "$cfg" 2>/dev/null || true)"
  if [[ -n "$line" ]]; then
    listen="${line#*listen=}"; listen="${listen%% *}"
    stats="${line#*stats=}"; stats="${stats%% *}"
  fi
  if pid_alive "$name"; then
    pid="$(cat "$RUN/$name.pid")"
    if [[ "$stats" != - ]] && csv="$(curl -fsS -m 2 "$stats;csv" 2>/dev/null)"; then
      # servers of the api backend: UP (or "UP 1/2", going down) counts as up
      read -r up total < <(awk -F, '$1 == "api" && $2 != "FRONTEND" && $2 != "BACKEND" { t++; if ($18 ~ /^UP/) u++ } END { print u + 0, t + 0 }' <<<"$csv")
      if [[ "$total" -gt 0 && "$up" == "$total" ]]; then health=healthy; else health=unhealthy; fi
    else
      health=unhealthy
    fi
  fi
  echo "$listen $stats $health $pid $up/$total"
}

haproxy_down() { # SIGTERM: HAProxy closes its connections and exits at once
  local name pid
  for name in $(haproxy_names); do
    if pid_alive "$name"; then
      pid="$(cat "$RUN/$name.pid")"
      kill -TERM "$pid" 2>/dev/null || true
      kill -CONT "$pid" 2>/dev/null || true
      # wait_gone: an exited child its parent has not reaped yet (a zombie) is gone too
      if ! wait_gone "$pid" 10; then say "$name (pid $pid) did not stop in 10s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
      say "$name stopped (pid $pid)"
    fi
    rm -f "$RUN/$name.pid" "$STACK_DIR/haproxy/$name.cfg"
  done
}

# ---------------------------------------------------------------- commands
stop_pid() { # name
  local f="$RUN/$1.pid" pid i
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if [[ "$1" == redis ]]; then
    # redis-server daemonizes: its cmdline does not carry the stack dir, its pidfile is ours
    [[ -d "/proc/$pid" ]] && grep -q redis-server "/proc/$pid/comm" 2>/dev/null || { rm -f "$f"; return 0; }
  else
    pid_alive "$1" || { rm -f "$f"; return 0; }
  fi
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true # a paused process (fault pause) acts on SIGTERM only once continued
  for ((i = 0; i < 120; i++)); do [[ -d "/proc/$pid" ]] || break; sleep 0.25; done
  if [[ -d "/proc/$pid" ]]; then say "$1 (pid $pid) did not stop in 30s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$f"
  say "$1 stopped (pid $pid)"
}

cmd_up() {
  fetch
  kafka_up
  registry_up
  redis_up
}

cmd_down() {
  haproxy_down
  stop_pid registry
  stop_pid kafka
  stop_pid redis
  rm -f "$RUN/redis.ours"
  bash "$ROOT/scripts/stack/redis-cluster.sh" down # the Redis Cluster, by its pid files, when tests started it
}

cmd_status() {
  local json="${1:-}" host port k r d name listen stats health pid servers
  read -r host port < <(redis_target)
  local kp rp dp
  kp="$(single_pid kafka || echo null)"
  rp="$(single_pid registry || echo null)"
  dp="$(single_pid redis || echo null)"
  # a paused process still accepts connections (kernel backlog): say paused, not healthy
  if [[ $kp != null ]] && proc_paused "$kp"; then k=paused; else
    kafka_healthy && pid_alive kafka && k=healthy || { port_open "$KAFKA_PORT" && k=unhealthy || k=down; }
  fi
  if [[ $rp != null ]] && proc_paused "$rp"; then r=paused; else
    registry_healthy && r=healthy || { port_open "$REGISTRY_PORT" && r=unhealthy || r=down; }
  fi
  if [[ $dp != null ]] && proc_paused "$dp"; then d=paused; else
    redis_ping "$host" "$port" && d=healthy || d=down
  fi
  if [[ "$json" == "--json" ]]; then
    printf '{"kafka":{"address":"127.0.0.1:%s","health":"%s","pid":%s},' "$KAFKA_PORT" "$k" "$kp"
    printf '"registry":{"address":"%s","health":"%s","pid":%s},' "$(registry_url)" "$r" "$rp"
    printf '"redis":{"address":"%s:%s","health":"%s","pid":%s}' "$host" "$port" "$d" "$dp"
    for name in $(haproxy_names); do
      read -r listen stats health pid servers < <(haproxy_part "$name")
      printf ',"%s":{"address":"%s","stats":"%s","health":"%s","pid":%s,"serversUp":%s,"servers":%s}' \
        "$name" "$listen" "$stats" "$health" "$pid" "${servers%/*}" "${servers#*/}"
    done
    printf '}\n'
  else
    printf '%-9s %-45s %-9s %s\n' PART ADDRESS HEALTH PID
    printf '%-9s %-45s %-9s %s\n' kafka "127.0.0.1:$KAFKA_PORT" "$k" "$([[ $kp == null ]] && echo - || echo "$kp")"
    printf '%-9s %-45s %-9s %s\n' registry "$(registry_url)" "$r" "$([[ $rp == null ]] && echo - || echo "$rp")"
    printf '%-9s %-45s %-9s %s\n' redis "$host:$port" "$d" "$([[ $dp != null ]] && echo "$dp" || { redis_ours && echo - || echo external; })"
    # the Redis Cluster (scripts/stack/redis-cluster.sh), only when it runs: it is not part of `up`
    bash "$ROOT/scripts/stack/redis-cluster.sh" running && { bash "$ROOT/scripts/stack/redis-cluster.sh" status || true; }
    # the balancer of a multi-instance run (not part of the exit status: the stack is Kafka, registry, Redis)
    for name in $(haproxy_names); do
      read -r listen stats health pid servers < <(haproxy_part "$name")
      printf '%-9s %-45s %-9s %s\n' "$name" "$listen" "$health" "$([[ $pid == null ]] && echo - || echo "$pid")  api servers up $servers, stats $stats"
    done
  fi
  [[ "$k" == healthy && "$r" == healthy && "$d" == healthy ]]
}

# ---------------------------------------------------------------- faults (single-node profile)
redis_ours() { [[ -z "${REDIS_URL:-}" && ( -f "$RUN/redis.pid" || -f "$RUN/redis.ours" ) ]]; }

single_pid() { # part -> pid of the live process this stack started for it; fails otherwise
  local pid
  case "$1" in
    kafka | registry) pid_alive "$1" && cat "$RUN/$1.pid" ;;
    redis)
      redis_ours && [[ -f "$RUN/redis.pid" ]] || return 1
      pid="$(cat "$RUN/redis.pid")"
      # redis-server daemonizes: its cmdline does not carry the stack dir, its pidfile is ours
      [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server ]] || return 1
      echo "$pid"
      ;;
    *) return 1 ;;
  esac
}

single_pids() { # [--json]
  local part out=()
  for part in kafka registry redis; do out+=("$(printf '"%s":%s' "$part" "$(single_pid "$part" || echo null)")"); done
  if [[ "${1:-}" == --json ]]; then (IFS=,; echo "{${out[*]}}"); else for part in kafka registry redis; do echo "$part $(single_pid "$part" || echo -)"; done; fi
}

single_fault() { # action part: kafka and registry; Redis only when this stack started it
  local action="$1" part="$2" pid
  case "$part" in
    kafka | registry) ;;
    redis)
      redis_ours || die "the Redis on $(redis_target | tr ' ' :) was not started by this stack: no faults on a Redis we do not own"
      touch "$RUN/redis.ours" # redis-server removes its pid file on SIGTERM; this remembers that it is ours
      ;;
    *) die "unknown part '$part' of the single-node profile (kafka, registry, redis)" ;;
  esac
  if [[ "$action" == start ]]; then
    if pid="$(single_pid "$part")" && proc_paused "$pid"; then die "$part is paused (pid $pid), not stopped: \`fault resume $part\`"; fi
    case "$part" in kafka) kafka_up ;; registry) registry_up ;; redis) redis_up ;; esac
    return 0
  fi
  pid="$(single_pid "$part")" || die "$part is not running (nothing to $action)"
  signal_part "$part" "$pid" "$action"
}

usage() {
  cat <<EOF
usage: stack.sh <up|status|down|env|pids|fault|reset> [--brokers 1|3] [--json]
  up       fetch Kafka $KAFKA_VERSION + Apicurio Registry from Maven Central (once), start what is
           missing (Kafka 127.0.0.1:$KAFKA_PORT, registry :$REGISTRY_PORT, Redis :$REDIS_PORT), wait until healthy
  status   health of each part (healthy, paused, unhealthy, down) and its pid; exit 0 only when all
           are healthy (--json: one JSON document). Also a multi-instance run's HAProxy
           (run/haproxy*.pid: its address, stats page, api servers up), not counted in the exit status
  down     stop the processes this stack started (by pid file, HAProxy included); without --brokers: both profiles
  env      print the environment variables the apps use to reach the stack
  pids     the pid of each part (null/- when not running; --json: one JSON document)
  fault <kill|term|pause|resume|start> <part>
           kill = SIGKILL, term = SIGTERM (waits for the exit), pause = SIGSTOP, resume = SIGCONT,
           start = start that part again and wait until it is healthy. Signals go to the pid file only.
           parts: kafka, registry, redis (only a Redis this stack started); with --brokers 3:
           broker-1, broker-2, broker-3, registry, redis
  reset --brokers 3
           stop the cluster profile and delete its data ($CL_DIR); the next up formats it anew
Profiles: --brokers 1 (default) is the single node above. --brokers 3, or DOUBLETAP_BROKERS=3, is the
  cluster: 3 KRaft nodes (broker+controller) on 127.0.0.1:$(cl_broker_port 1),$(cl_broker_port 2),$(cl_broker_port 3)
  (controllers :$(cl_controller_port 1),$(cl_controller_port 2),$(cl_controller_port 3)), RF 3, min ISR 2, its own registry :$CL_REGISTRY_PORT and
  Redis :$CL_REDIS_PORT (no persistence), everything under $CL_DIR.
Environment: DOUBLETAP_STACK_DIR, DOUBLETAP_BROKERS, DOUBLETAP_KAFKA_PORT, DOUBLETAP_KAFKA_CONTROLLER_PORT,
  DOUBLETAP_REGISTRY_PORT, DOUBLETAP_REGISTRY_MGMT_PORT, DOUBLETAP_REDIS_PORT, REDIS_URL,
  DOUBLETAP_REGISTRY_JAVA17=1 (force the Java 17 registry), DOUBLETAP_CLUSTER_KAFKA_PORT (first broker;
  node n uses it + 2(n-1) and the port after for its controller), DOUBLETAP_CLUSTER_REGISTRY_PORT,
  DOUBLETAP_CLUSTER_REGISTRY_MGMT_PORT, DOUBLETAP_CLUSTER_REDIS_PORT, DOUBLETAP_CLUSTER_KAFKA_HEAP
  (keep ports below the ephemeral range, 32768+, or an outgoing connection may hold one first)
EOF
}

# ---------------------------------------------------------------- arguments
# shellcheck source=scripts/stack/cluster.sh
source "$ROOT/scripts/stack/cluster.sh"

CMD="${1:-}"
[[ $# -gt 0 ]] && shift
FLAG_BROKERS="" JSON="" ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --brokers) [[ $# -ge 2 ]] || die "--brokers needs a value (1 or 3)"; FLAG_BROKERS="$2"; shift 2 ;;
    --brokers=*) FLAG_BROKERS="${1#*=}"; shift ;;
    --json) JSON=--json; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
BROKERS="${FLAG_BROKERS:-${DOUBLETAP_BROKERS:-1}}"
[[ "$BROKERS" == 1 || "$BROKERS" == 3 ]] || die "--brokers (or DOUBLETAP_BROKERS) is 1 (the single node) or 3 (the cluster profile), not '$BROKERS'"
cluster() { [[ "$BROKERS" == 3 ]]; }

case "$CMD" in
  up) if cluster; then cl_up; else cmd_up; fi ;;
  down)
    # no flag: everything this stack dir started, both profiles (CI calls it so)
    if [[ -z "$FLAG_BROKERS" ]]; then cmd_down; cl_down; elif cluster; then cl_down; else cmd_down; fi
    ;;
  status) if cluster; then cl_status "$JSON"; else cmd_status "$JSON"; fi ;;
  pids) if cluster; then cl_pids "$JSON"; else single_pids "$JSON"; fi ;;
  fault)
    [[ ${#ARGS[@]} -eq 2 ]] || { usage >&2; exit 2; }
    [[ "${ARGS[0]}" =~ ^(kill|term|pause|resume|start)$ ]] || die "unknown fault '${ARGS[0]}' (kill, term, pause, resume, start)"
    if cluster; then cl_fault "${ARGS[0]}" "${ARGS[1]}"; else single_fault "${ARGS[0]}" "${ARGS[1]}"; fi
    ;;
  reset)
    [[ "$FLAG_BROKERS" == 3 ]] || die "reset deletes the cluster profile's data and needs --brokers 3 (the single node is never reset here)"
    cl_down
    rm -rf "$CL_DIR"
    say "cluster profile reset ($CL_DIR removed)"
    ;;
  env)
    if cluster; then cl_env; else
      read -r host port < <(redis_target)
      echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
      echo "SCHEMA_REGISTRY_URL=$(registry_url)"
      echo "REDIS_URL=${REDIS_URL:-redis://$host:$port}"
    fi
    ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
