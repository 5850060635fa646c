#!/usr/bin/env bash
# Starts (or reuses) the real servers the integration tests need and exports
# their addresses. Source it:   . scripts/testenv.sh start
#                               . scripts/testenv.sh stop
#
#   KAFKA_BROKERS   Apache Kafka 4.x, single-node KRaft, from Maven Central jars
#   RECON_KAFKA_CLASSPATH  those jars' classpath file, for tests that start a broker of their own
#   REDIS_URL       redis-server from Debian
#   DATABASE_URL    PostgreSQL 15 from Debian
#   CHROMIUM        Debian's chromium, for the console's browser tests
#   PROMETHEUS      Debian's prometheus (promtool beside it), for the dashboards' and alerts' tests
#   KEYCLOAK_HOME   Keycloak's distribution from Maven Central, for the sign-in test against a real identity server
#   MAILPIT         mailpit (an SMTP server with an API), for the notifier's e-mail channel test
#   SCHEMA_REGISTRY_URL  Apicurio Registry's Confluent-compatible API, from Maven Central
#   RECON_PYTHON    a Python venv with the upstream producers' clients and moto's AWS server (scripts/python-requirements.txt)
#
# A variable that is already set and answers is reused; otherwise the server is
# installed if missing and started on free ports in a temp dir. Only what this
# script started is stopped.

_recon_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

_log() { printf 'testenv: %s\n' "$*" >&2; }

_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

_apt_install() {
  # apt-get update once per run, then install what is missing.
  if [ -z "${_recon_apt_updated:-}" ]; then
    _log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || return 1
    _recon_apt_updated=1
  fi
  _log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

_wait_for() { # cmd... ; waits up to 60 s
  local i
  for i in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

_start_redis() {
  if [ -n "${REDIS_URL:-}" ]; then _log "reusing REDIS_URL=$REDIS_URL"; return 0; fi
  command -v redis-server >/dev/null || _apt_install redis-server || return 1
  local port dir
  port=$(_free_port); dir="$RECON_TESTENV_DIR/redis"; mkdir -p "$dir"
  local start_cmd="redis-server --port $port --bind 127.0.0.1 --dir $dir --appendonly yes --appendfsync always --save '' --daemonize yes --pidfile $dir/redis.pid --logfile $dir/redis.log"
  eval "$start_cmd" || return 1
  _wait_for redis-cli -p "$port" ping || { _log "redis did not start"; return 1; }
  # Restart script for failure tests: stops Redis (the AOF keeps the data)
  # and starts it again on the same port.
  cat >"$dir/restart.sh" <<RESTART
#!/usr/bin/env bash
redis-cli -p $port shutdown >/dev/null 2>&1 || kill \$(cat $dir/redis.pid) 2>/dev/null
for i in \$(seq 1 100); do redis-cli -p $port ping >/dev/null 2>&1 || break; sleep 0.1; done
sleep "\${1:-0}"
$start_cmd
for i in \$(seq 1 100); do redis-cli -p $port ping >/dev/null 2>&1 && exit 0; sleep 0.1; done
exit 1
RESTART
  chmod +x "$dir/restart.sh"
  export RECON_RESTART_REDIS="$dir/restart.sh"
  export REDIS_URL="redis://127.0.0.1:$port/0"
  echo "$dir/redis.pid" >>"$RECON_TESTENV_DIR/pids"
  _log "redis-server on $REDIS_URL"
}

recon_testenv_redis_cluster() {
  # A Redis Cluster for the bench or a manual run (the tests start their
  # own): three primaries with a replica each, AOF on; exports
  # REDIS_CLUSTER_URL (seeds, for --redis-url). Stopped with the rest.
  command -v redis-server >/dev/null || _apt_install redis-server || return 1
  local dir="$RECON_TESTENV_DIR/redis-cluster" port ports=() addrs=()
  mkdir -p "$dir"
  for i in 1 2 3 4 5 6; do
    # Redis Cluster's bus port is the port + 10000: it must stay < 65536.
    port=$(_free_port); while [ "$port" -gt 55535 ]; do port=$(_free_port); done
    ports+=("$port"); addrs+=("127.0.0.1:$port")
    mkdir -p "$dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 2000 --cluster-replica-validity-factor 0 --appendonly yes --appendfsync always --save '' --daemonize yes \
      --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" || return 1
    echo "$dir/$port/redis.pid" >>"$RECON_TESTENV_DIR/pids"
    _wait_for redis-cli -p "$port" ping || { _log "redis node $port did not start"; return 1; }
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; return 1; }
  for port in "${ports[@]}"; do
    _wait_for bash -c "redis-cli -p $port cluster info | grep -q cluster_state:ok" || { _log "redis cluster not ok"; return 1; }
  done
  local seeds
  seeds=$(printf '&addr=%s' "${addrs[@]:1}")
  export REDIS_CLUSTER_URL="redis://${addrs[0]}?${seeds#&}"
  _log "redis cluster (3 primaries, 3 replicas) on $REDIS_CLUSTER_URL"
}

_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  return 1
}

_start_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then _log "reusing DATABASE_URL"; return 0; fi
  local bin port dir
  bin=$(_pg_bin) || { _apt_install postgresql && bin=$(_pg_bin); } || return 1
  port=$(_free_port); dir="$RECON_TESTENV_DIR/pg"; mkdir -p "$dir"
  local asuser=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"; chmod 755 "$RECON_TESTENV_DIR"
    asuser=(runuser -u postgres --)
  fi
  "${asuser[@]}" "$bin/initdb" -D "$dir/data" -U recon --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  "${asuser[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$dir/pg.log" >&2; return 1; }
  "${asuser[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U recon recon || return 1
  export DATABASE_URL="postgres://recon@127.0.0.1:$port/recon?sslmode=disable"
  printf '%s\n' "pg:${asuser[*]}:$bin/pg_ctl:$dir/data" >>"$RECON_TESTENV_DIR/pids"
  _log "postgresql on 127.0.0.1:$port"
}

_kafka_ready() { # a real metadata request through franz-go's kadm
  (cd "$_recon_root" && go run ./scripts/kafkaready "$1")
}

_start_kafka() {
  command -v java >/dev/null || _apt_install openjdk-17-jre-headless || return 1
  command -v mvn >/dev/null || _apt_install maven || return 1
  local pom="$_recon_root/deploy/kafka/pom.xml" cpfile="$_recon_root/deploy/kafka/target/kafka.classpath"
  if [ ! -s "$cpfile" ]; then
    _log "resolving Apache Kafka jars from Maven Central"
    mvn -q -B -f "$pom" validate >&2 || return 1
  fi
  # The jars also start the tests' own brokers (a TLS and SASL/SCRAM one).
  export RECON_KAFKA_CLASSPATH="$cpfile"
  if [ -n "${KAFKA_BROKERS:-}" ]; then _log "reusing KAFKA_BROKERS=$KAFKA_BROKERS"; return 0; fi
  local cp port cport dir id
  cp=$(cat "$cpfile"); port=$(_free_port); cport=$(_free_port)
  dir="$RECON_TESTENV_DIR/kafka"; mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; return 1; }
  cat >"$dir/start.sh" <<START
#!/usr/bin/env bash
java -Xms256m -Xmx768m -XX:+UseSerialGC -Dlog4j2.configurationFile="$_recon_root/deploy/kafka/log4j2.properties" \\
  -cp "$cp" kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1 &
echo \$! >"$dir/kafka.pid"
START
  chmod +x "$dir/start.sh"
  "$dir/start.sh"
  # Restart script for failure tests: stops the broker, starts it again on
  # the same ports and data, waits for a metadata answer.
  cat >"$dir/restart.sh" <<RESTART
#!/usr/bin/env bash
pid=\$(cat $dir/kafka.pid)
kill \$pid 2>/dev/null
for i in \$(seq 1 300); do kill -0 \$pid 2>/dev/null || break; sleep 0.1; done
kill -9 \$pid 2>/dev/null
sleep "\${1:-0}"
$dir/start.sh
cd "$_recon_root" && go run ./scripts/kafkaready 127.0.0.1:$port
RESTART
  chmod +x "$dir/restart.sh"
  export RECON_RESTART_KAFKA="$dir/restart.sh"
  echo "$dir/kafka.pid" >>"$RECON_TESTENV_DIR/pids"
  if ! _kafka_ready "127.0.0.1:$port"; then
    _log "kafka did not become ready; last log lines:"; tail -20 "$dir/broker.log" >&2; return 1
  fi
  export KAFKA_BROKERS="127.0.0.1:$port"
  export RECON_KAFKA_LOG="$dir/broker.log"
  _log "apache kafka $(basename "$(tr ':' '\n' <"$cpfile" | grep kafka_2.13)" .jar) on $KAFKA_BROKERS"
}

_start_chromium() {
  if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then _log "reusing CHROMIUM=$CHROMIUM"; return 0; fi
  command -v chromium >/dev/null || _apt_install chromium || return 1
  export CHROMIUM=$(command -v chromium)
  _log "$("$CHROMIUM" --version 2>/dev/null | tail -1) at $CHROMIUM"
}

_start_prometheus() {
  # The tests start their own Prometheus (and run promtool) from this binary.
  if [ -n "${PROMETHEUS:-}" ] && [ -x "$PROMETHEUS" ]; then _log "reusing PROMETHEUS=$PROMETHEUS"; return 0; fi
  command -v prometheus >/dev/null && command -v promtool >/dev/null || _apt_install --no-install-recommends prometheus || return 1
  export PROMETHEUS=$(command -v prometheus)
  _log "$("$PROMETHEUS" --version 2>&1 | head -1) at $PROMETHEUS"
}

_start_keycloak() {
  # The sign-in test starts its own Keycloak (in-memory database, a realm of
  # its own) from this distribution.
  if [ -n "${KEYCLOAK_HOME:-}" ] && [ -x "$KEYCLOAK_HOME/bin/kc.sh" ]; then _log "reusing KEYCLOAK_HOME=$KEYCLOAK_HOME"; return 0; fi
  command -v java >/dev/null || _apt_install openjdk-17-jre-headless || return 1
  command -v mvn >/dev/null || _apt_install maven || return 1
  local pom="$_recon_root/deploy/keycloak/pom.xml" dist="$_recon_root/deploy/keycloak/target/keycloak"
  if ! ls -d "$dist"/keycloak-*/bin >/dev/null 2>&1; then
    _log "resolving Keycloak from Maven Central"
    mvn -q -B -f "$pom" validate >&2 || return 1
  fi
  export KEYCLOAK_HOME=$(ls -d "$dist"/keycloak-* | head -1)
  _log "keycloak $(basename "$KEYCLOAK_HOME" | sed 's/keycloak-//') at $KEYCLOAK_HOME"
}

_registry_ready() { # the Confluent-compatible API answers
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/subjects", timeout=2)' "$1"
}

_start_registry() {
  if [ -n "${SCHEMA_REGISTRY_URL:-}" ] && _registry_ready "$SCHEMA_REGISTRY_URL"; then _log "reusing SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL"; return 0; fi
  command -v java >/dev/null || _apt_install openjdk-17-jre-headless || return 1
  command -v mvn >/dev/null || _apt_install maven || return 1
  local pom="$_recon_root/deploy/registry/pom.xml" app="$_recon_root/deploy/registry/target/apicurio"
  if ! ls "$app"/apicurio-registry-app-*-runner.jar >/dev/null 2>&1; then
    _log "resolving Apicurio Registry from Maven Central"
    mvn -q -B -f "$pom" validate >&2 || return 1
  fi
  local port dir jar
  port=$(_free_port); dir="$RECON_TESTENV_DIR/registry"; mkdir -p "$dir"
  jar=$(ls "$app"/apicurio-registry-app-*-runner.jar | head -1)
  # In-memory storage: every run starts empty.
  # (The JVM alone in the background, so that $! is its pid: with "cd &&
  # java &" the whole list went to the background, the pid file named the
  # subshell, and the stop left the JVM running.)
  (cd "$app" || exit 1
   java -Xms128m -Xmx512m -XX:+UseSerialGC -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
     -jar "$jar" >"$dir/registry.log" 2>&1 &
   echo $! >"$dir/registry.pid")
  echo "$dir/registry.pid" >>"$RECON_TESTENV_DIR/pids"
  local url="http://127.0.0.1:$port/apis/ccompat/v7"
  if ! _wait_for _registry_ready "$url"; then
    _log "the schema registry did not start; last log lines:"; tail -20 "$dir/registry.log" >&2; return 1
  fi
  export SCHEMA_REGISTRY_URL="$url"
  _log "apicurio registry $(basename "$jar" -runner.jar | sed 's/apicurio-registry-app-//') on $SCHEMA_REGISTRY_URL"
}

_start_python() {
  if [ -n "${RECON_PYTHON:-}" ] && [ -x "$RECON_PYTHON" ]; then _log "reusing RECON_PYTHON=$RECON_PYTHON"; return 0; fi
  local req="$_recon_root/scripts/python-requirements.txt" venv sum
  sum=$(sha256sum "$req" | cut -c1-12)
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/recon-testenv/pyvenv-$sum"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import confluent_kafka, kafka, fastavro, moto.server' 2>/dev/null; then
    python3 -c 'import venv' 2>/dev/null || _apt_install python3-venv || return 1
    _log "installing the upstream producers' clients and moto from PyPI into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$req" >&2 || { rm -rf "$venv"; return 1; }
  fi
  export RECON_PYTHON="$venv/bin/python"
  _log "python $("$RECON_PYTHON" -c 'import confluent_kafka, kafka; print("confluent-kafka", confluent_kafka.__version__, "librdkafka", confluent_kafka.libversion()[0], "kafka-python", kafka.__version__)')"
}

_start_mailpit() {
  # The notifier's e-mail test starts its own mailpit (STARTTLS, a password
  # file) from this binary, built from the Go module proxy once per machine.
  if [ -n "${MAILPIT:-}" ] && [ -x "$MAILPIT" ]; then _log "reusing MAILPIT=$MAILPIT"; return 0; fi
  local v=v1.33.1 dir
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/recon-testenv/mailpit-$v"
  if [ ! -x "$dir/mailpit" ]; then
    _log "building mailpit $v from the Go module proxy"
    GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@$v" >&2 || return 1
  fi
  export MAILPIT="$dir/mailpit"
  _log "mailpit $v at $MAILPIT"
}

recon_testenv_start() {
  export RECON_TESTENV_DIR=${RECON_TESTENV_DIR:-$(mktemp -d /tmp/recon-testenv.XXXXXX)}
  mkdir -p "$RECON_TESTENV_DIR"
  : >"$RECON_TESTENV_DIR/pids"
  _start_redis && _start_postgres && _start_kafka && _start_chromium && _start_prometheus && _start_keycloak && _start_registry && _start_python && _start_mailpit
}

recon_testenv_stop() {
  [ -n "${RECON_TESTENV_DIR:-}" ] && [ -f "$RECON_TESTENV_DIR/pids" ] || return 0
  local line
  while read -r line; do
    case "$line" in
      pg:*)
        IFS=: read -r _ user ctl data <<<"$line"
        if [ -n "$user" ]; then $user "$ctl" -D "$data" -m fast stop >/dev/null 2>&1
        else "$ctl" -D "$data" -m fast stop >/dev/null 2>&1; fi ;;
      *) [ -f "$line" ] && kill "$(cat "$line")" 2>/dev/null ;;
    esac
  done <"$RECON_TESTENV_DIR/pids"
  sleep 1
  rm -rf "$RECON_TESTENV_DIR"
  unset RECON_TESTENV_DIR
}

case "${1:-}" in
  start) recon_testenv_start ;;
  stop) recon_testenv_stop ;;
esac
