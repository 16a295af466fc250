#!/usr/bin/env bash
# Runs a real Apache Kafka 3.7.1 broker as a single KRaft node on 127.0.0.1 for
# PEMX integration tests. The broker jars come from Maven Central (via Maven and
# tests/broker/pom.xml) and are cached; no Docker, no tarball download.
#
# Usage: tests/broker/kafka.sh fetch | start [PORT] | stop [PORT] | status [PORT]
#   PORT defaults to 19092; the KRaft controller listens on PORT+1.
# `start` prints "127.0.0.1:PORT" on stdout once the broker answers; all progress
# and errors go to stderr. See tests/broker/README.md for the environment knobs.
#
# A broker that requires SASL/SCRAM-SHA-512 over TLS: start-secure PORT (stop and status as
# above). Its client listener is SASL_SSL (a throw-away CA and broker certificate made with
# openssl), its controller listener plain; it prints
# "127.0.0.1:PORT ca=CA_FILE user=pemx password=PASSWORD" (a fresh password each start).
#
# A three-node cluster (broker failover tests): start-cluster PORT | stop-cluster PORT |
# status-cluster PORT | kill-broker PORT N | start-broker PORT N. Node N (1..3) is a combined
# broker and KRaft controller, its broker on PORT+2(N-1) and its controller on PORT+2(N-1)+1,
# so the cluster uses PORT..PORT+5. start-cluster prints the bootstrap list.
set -euo pipefail

readonly KAFKA_VERSION="3.7.1"
readonly DEFAULT_PORT=19092
readonly MARKER=".pemx-kafka-state"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly POM="${SCRIPT_DIR}/pom.xml"
CACHE_DIR="${PEMX_KAFKA_CACHE:-${XDG_CACHE_HOME:-${HOME:?HOME is not set; set PEMX_KAFKA_CACHE}/.cache}/pemx/kafka-${KAFKA_VERSION}}"
readonly CACHE_DIR
readonly LIBS_DIR="${CACHE_DIR}/libs"
readonly STAMP="${CACHE_DIR}/libs.stamp"

START_TIMEOUT="${PEMX_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${PEMX_KAFKA_STOP_TIMEOUT:-30}"
# Modest by default: the machine is shared with a C++ build.
HEAP_OPTS="${PEMX_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
# Each of the cluster's three JVMs: smaller still (three of them, 2 cores, CI).
CLUSTER_HEAP_OPTS="${PEMX_KAFKA_CLUSTER_HEAP_OPTS:--Xms64m -Xmx256m}"
readonly CLUSTER_NODES=3
JVM_OPTS="${PEMX_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:CICompilerCount=2 -XX:-UsePerfData -Djava.awt.headless=true}"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") fetch | start [PORT] | stop [PORT] | status [PORT] | start-secure PORT
       $(basename "$0") start-cluster PORT | stop-cluster PORT | status-cluster PORT
                 | kill-broker PORT N | start-broker PORT N
  fetch         resolve the Kafka ${KAFKA_VERSION} jars into ${LIBS_DIR} (once)
  start [PORT]  start a fresh single-node KRaft broker on 127.0.0.1:PORT (default ${DEFAULT_PORT})
  stop [PORT]   stop it (SIGTERM, then SIGKILL after ${STOP_TIMEOUT}s) and remove its state dir
  status [PORT] exit 0 and print the address if it is running, exit 1 otherwise
  start-secure PORT  as start, but the client listener is SASL_SSL with SCRAM-SHA-512 (a
                throw-away CA in the state dir); prints
                "127.0.0.1:PORT ca=CA_FILE user=pemx password=PASSWORD"; stop/status PORT
  start-cluster PORT   start a fresh three-node KRaft cluster (replication 3, min ISR 2):
                       node N's broker on PORT+2(N-1), its controller on the next port;
                       prints the bootstrap list once all three serve
  stop-cluster PORT    stop its three nodes and remove its state dir
  status-cluster PORT  exit 0 and print the bootstrap list if all three nodes serve
  kill-broker PORT N   SIGKILL node N (1..3) of the cluster (a crash: broker and controller)
  start-broker PORT N  restart node N on its kept data; waits until the cluster lists it again
EOF
}

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    printf '%s\n' "${JAVA_HOME}/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "java not found (install a JRE >= 11, e.g. apt-get install -y default-jre-headless)"
  fi
}

pom_sum() { cksum <"${POM}" | awk '{print $1 "-" $2}'; }

libs_complete() {
  [[ -f "${STAMP}" && -d "${LIBS_DIR}" ]] || return 1
  [[ "$(cat "${STAMP}")" == "kafka-${KAFKA_VERSION} pom=$(pom_sum)" ]] || return 1
  compgen -G "${LIBS_DIR}/kafka_2.13-${KAFKA_VERSION}.jar" >/dev/null
}

do_fetch() {
  [[ -f "${POM}" ]] || die "missing ${POM}"
  if libs_complete; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install -y maven)"
  mkdir -p "${CACHE_DIR}"
  # Serialise concurrent fetches (e.g. parallel test jobs) on the cache.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${CACHE_DIR}/.fetch.lock"
    flock 9
    if libs_complete; then
      exec 9>&-
      return 0
    fi
  fi
  local tmp="${CACHE_DIR}/libs.tmp.$$" mvn_log="${CACHE_DIR}/fetch.log" attempt started
  started=${SECONDS}
  log "fetching Kafka ${KAFKA_VERSION} jars with Maven into ${LIBS_DIR} ..."
  for attempt in 1 2 3; do
    rm -rf "${tmp}"
    if mvn -B -q -f "${POM}" dependency:copy-dependencies \
        -DoutputDirectory="${tmp}" >"${mvn_log}" 2>&1; then
      break
    fi
    if ((attempt == 3)); then
      tail -n 40 "${mvn_log}" >&2 || true
      rm -rf "${tmp}"
      die "mvn failed 3 times (full log: ${mvn_log})"
    fi
    log "mvn failed (attempt ${attempt}/3), retrying in $((attempt * 5))s ..."
    sleep $((attempt * 5))
  done
  [[ -f "${tmp}/kafka_2.13-${KAFKA_VERSION}.jar" ]] \
    || die "mvn succeeded but ${tmp} lacks kafka_2.13-${KAFKA_VERSION}.jar"
  rm -f "${STAMP}"
  rm -rf "${LIBS_DIR}"
  mv "${tmp}" "${LIBS_DIR}"
  printf 'kafka-%s pom=%s\n' "${KAFKA_VERSION}" "$(pom_sum)" >"${STAMP}"
  log "fetched $(find "${LIBS_DIR}" -name '*.jar' | wc -l) jars in $((SECONDS - started))s"
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
}

parse_port() {
  local p="${1:-${DEFAULT_PORT}}"
  if ! [[ "${p}" =~ ^[0-9]{1,5}$ ]] || ((10#${p} < 1024 || 10#${p} > 65534)); then
    die "invalid PORT '${p}' (want 1024..65534; PORT+1 is used by the controller)"
  fi
  printf '%s\n' "$((10#${p}))"
}

state_dir_for() { printf '%s\n' "${PEMX_KAFKA_STATE:-/tmp/pemx-kafka-$1}"; }

# True if something listens on (or accepts connections at) 127.0.0.1:$1.
port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1 \
      && [[ -n "$(ss -Htln "sport = :${port}" 2>/dev/null)" ]]; then
    return 0
  fi
  # Fallback / second opinion: can we connect?
  if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    return 0
  fi
  return 1
}

# Prints the broker pid if the state dir's pid file names a live broker of ours.
running_pid() {
  local state=$1 pid cmd
  [[ -f "${state}/kafka.pid" ]] || return 1
  pid="$(cat "${state}/kafka.pid" 2>/dev/null || true)"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/${pid}/cmdline" ]] || { kill -0 "${pid}" 2>/dev/null || return 1; }
  if [[ -r "/proc/${pid}/cmdline" ]]; then
    cmd="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)"
    [[ "${cmd}" == *kafka.Kafka*"${state}/server.properties"* ]] || return 1
  fi
  printf '%s\n' "${pid}"
}

# rm -rf only what we created: a dir holding our marker file (or an empty/absent one).
wipe_state() {
  local state=$1
  [[ -n "${state}" && "${state}" != "/" ]] || die "refusing to wipe state dir '${state}'"
  if [[ -e "${state}" ]]; then
    if [[ ! -f "${state}/${MARKER}" ]] && [[ -n "$(ls -A "${state}" 2>/dev/null)" ]]; then
      die "${state} exists, is not empty and is not a PEMX Kafka state dir; refusing to delete it"
    fi
    rm -rf "${state}"
  fi
}

ensure_kcat() {
  command -v kcat >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "kcat missing; installing it with apt-get ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >&2 \
      || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >&2; } \
      || die "could not install kcat"
  else
    die "kcat not found (apt-get install -y kcat)"
  fi
}

# $2, when given: a librdkafka properties file for kcat -F (the secure broker's client.properties).
broker_answers() {
  local port=$1 conf=${2:-} out
  local -a opts=()
  if [[ -n "${conf}" ]]; then opts=(-F "${conf}"); fi
  out="$(timeout 10 kcat "${opts[@]}" -b "127.0.0.1:${port}" -L -m 3 2>/dev/null)" || return 1
  [[ "${out}" == *"broker 1 at 127.0.0.1:${port}"* ]]
}

random_cluster_id() {
  # Kafka Uuid: 16 random bytes, base64url without padding (22 chars); must not start with '-'.
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "${id}" != -* && ${#id} -eq 22 ]] && break
  done
  printf '%s\n' "${id}"
}

dump_logs() {
  local state=$1 f
  for f in "${state}/logs/server.log" "${state}/logs/kafka.out"; do
    if [[ -s "${f}" ]]; then
      printf -- '----- last lines of %s -----\n' "${f}" >&2
      tail -n 40 "${f}" >&2 || true
    fi
  done
}

# $4, when given, is the secure broker's listener block (secure_listeners) instead of the
# plain one.
write_config() {
  local state=$1 port=$2 cport=$3 listeners=${4:-}
  if [[ -z "${listeners}" ]]; then
    listeners="listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  fi
  cat >"${state}/server.properties" <<EOF
# Generated by tests/broker/kafka.sh: single-node KRaft broker for PEMX tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
controller.listener.names=CONTROLLER
${listeners}
log.dirs=${state}/data
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
  write_log4j "${state}"
}

write_log4j() {
  local state=$1
  cat >"${state}/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${state}/logs/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
}

# Formats a node's storage (its KRaft metadata log) for the cluster id; further arguments go
# to the format command (the secure broker's --add-scram).
format_storage() {
  local state=$1 cluster_id=$2 java
  shift 2
  java="$(java_bin)"
  local -a jvm
  read -r -a jvm <<<"${JVM_OPTS}"
  if ! "${java}" -Xmx256m "${jvm[@]}" "-Dlog4j.configuration=file:${state}/log4j.properties" \
      "-Dkafka.logs.dir=${state}/logs" -cp "${LIBS_DIR}/*" kafka.tools.StorageTool \
      format -t "${cluster_id}" -c "${state}/server.properties" "$@" >"${state}/logs/format.out" 2>&1; then
    cat "${state}/logs/format.out" >&2 || true
    die "kafka-storage format failed"
  fi
}

# Starts the node of a state dir (formatted, with its server.properties) detached, with the
# given heap flags; does not wait. ${state}/kafka.pid names the JVM once it runs.
launch_node() {
  local state=$1 heap_opts=$2 java
  java="$(java_bin)"
  local -a jvm heap
  read -r -a heap <<<"${heap_opts}"
  read -r -a jvm <<<"${JVM_OPTS}"
  local -a log_opts=("-Dlog4j.configuration=file:${state}/log4j.properties" "-Dkafka.logs.dir=${state}/logs")
  rm -f "${state}/kafka.pid"
  # Detach the broker into its own session; the inner shell records its pid,
  # then exec's java, so the pid file names the JVM itself.
  local -a detach=()
  if command -v setsid >/dev/null 2>&1; then detach=(setsid); fi
  # shellcheck disable=SC2016  # $$ and $@ are expanded by the inner sh
  nohup "${detach[@]}" sh -c 'echo $$ >"$0"; exec "$@"' "${state}/kafka.pid" \
    "${java}" "${heap[@]}" "${jvm[@]}" "${log_opts[@]}" \
    -cp "${LIBS_DIR}/*" kafka.Kafka "${state}/server.properties" \
    >>"${state}/logs/kafka.out" 2>&1 </dev/null &
}

# do_start [PORT] [secure]: "secure" starts the SASL_SSL broker (setup_secure below).
do_start() {
  local port cport state java pid deadline started secure=${2:-} conf=
  port="$(parse_port "${1:-}")"
  cport=$((port + 1))
  state="$(state_dir_for "${port}")"
  started=${SECONDS}

  if pid="$(running_pid "${state}")"; then
    die "a broker is already running on 127.0.0.1:${port} (pid ${pid}); run: $0 stop ${port}"
  fi
  port_in_use "${port}" && die "port ${port} on 127.0.0.1 is already in use; pick another PORT"
  port_in_use "${cport}" && die "controller port ${cport} (PORT+1) on 127.0.0.1 is already in use; pick another PORT"

  java="$(java_bin)"
  ensure_kcat
  do_fetch

  wipe_state "${state}"
  mkdir -p "${state}/logs" "${state}/data"
  : >"${state}/${MARKER}"
  local -a scram=()
  if [[ -n "${secure}" ]]; then
    setup_secure "${state}" "${port}" "${cport}"
    conf="${state}/client.properties"
    scram=(--add-scram "SCRAM-SHA-512=[name=${SECURE_USER},password=$(secret_of "${conf}")]"
           --add-scram "SCRAM-SHA-512=[name=broker,password=$(cat "${state}/tls/broker.secret")]")
  else
    write_config "${state}" "${port}" "${cport}"
  fi

  format_storage "${state}" "$(random_cluster_id)" "${scram[@]}"
  launch_node "${state}" "${HEAP_OPTS}"

  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    sleep 0.5
    pid="$(cat "${state}/kafka.pid" 2>/dev/null || true)"
    if [[ -n "${pid}" ]] && ! kill -0 "${pid}" 2>/dev/null; then
      dump_logs "${state}"
      die "broker exited during startup (state dir ${state})"
    fi
    if [[ -n "${pid}" ]] && broker_answers "${port}" "${conf}"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      dump_logs "${state}"
      if [[ -n "${pid}" ]]; then kill -KILL "${pid}" 2>/dev/null || true; fi
      die "broker did not answer on 127.0.0.1:${port} within ${START_TIMEOUT}s (state dir ${state})"
    fi
  done
  log "broker up on 127.0.0.1:${port} (pid ${pid}, state ${state}) in $((SECONDS - started))s"
  broker_line "${state}" "${port}"
}

# What `start` and `status` print: the address, and for the secure broker what a client needs.
broker_line() {
  local state=$1 port=$2 conf="$1/client.properties"
  if [[ -f "${conf}" ]]; then
    printf '127.0.0.1:%s ca=%s user=%s password=%s\n' "${port}" "${state}/tls/ca.pem" \
      "${SECURE_USER}" "$(secret_of "${conf}")"
  else
    printf '127.0.0.1:%s\n' "${port}"
  fi
}

# ---------------------------------------------------------------------------------------
# The secure broker: its client listener (PORT) is SASL_SSL with SCRAM-SHA-512, the
# controller's (PORT+1) plain like the plain broker's. A throw-away CA signs the broker's
# certificate (SAN IP:127.0.0.1, DNS:localhost: librdkafka verifies the host name); both live
# in ${state}/tls and go with the state dir. The SCRAM users, written into the metadata log
# by the format command: SECURE_USER for clients, "broker" for the broker's own inter-broker
# client; every password is fresh (random) at each start. ${state}/client.properties holds a
# client's librdkafka properties (kcat -F reads it to see whether the broker answers).

readonly SECURE_USER="pemx"

random_secret() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20; }
secret_of() { sed -n 's/^sasl\.password=//p' "$1"; }

setup_secure() {
  local state=$1 port=$2 cport=$3 tls="$1/tls" store_pass broker_pass user_pass
  command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install -y openssl)"
  mkdir -p "${tls}"
  store_pass="$(random_secret)"
  broker_pass="$(random_secret)"
  user_pass="$(random_secret)"
  printf '%s\n' "${broker_pass}" >"${tls}/broker.secret"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=PEMX test CA ${port}" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "${tls}/ca.key" -out "${tls}/ca.pem" \
      && openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "${tls}/broker.key" -out "${tls}/broker.csr" \
      && printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "extendedKeyUsage=serverAuth,clientAuth" >"${tls}/broker.ext" \
      && openssl x509 -req -days 2 -in "${tls}/broker.csr" -CA "${tls}/ca.pem" \
        -CAkey "${tls}/ca.key" -CAcreateserial -extfile "${tls}/broker.ext" \
        -out "${tls}/broker.pem" \
      && openssl pkcs12 -export -name broker -in "${tls}/broker.pem" -inkey "${tls}/broker.key" \
        -certfile "${tls}/ca.pem" -passout "pass:${store_pass}" -out "${tls}/broker.p12"
  } >"${state}/logs/openssl.out" 2>&1 || { cat "${state}/logs/openssl.out" >&2; die "openssl failed"; }
  local jaas="org.apache.kafka.common.security.scram.ScramLoginModule required"
  jaas+=" username=\"broker\" password=\"${broker_pass}\";"
  write_config "${state}" "${port}" "${cport}" "\
listeners=SASL_SSL://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=SASL_SSL://127.0.0.1:${port}
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${jaas}
ssl.keystore.type=PKCS12
ssl.keystore.location=${tls}/broker.p12
ssl.keystore.password=${store_pass}
ssl.key.password=${store_pass}
ssl.truststore.type=PEM
ssl.truststore.location=${tls}/ca.pem
ssl.client.auth=none"
  cat >"${state}/client.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=${SECURE_USER}
sasl.password=${user_pass}
ssl.ca.location=${tls}/ca.pem
EOF
}

do_stop() {
  local port state pid waited=0
  port="$(parse_port "${1:-}")"
  state="$(state_dir_for "${port}")"
  if pid="$(running_pid "${state}")"; then
    log "stopping broker pid ${pid} on 127.0.0.1:${port} ..."
    kill -TERM "${pid}" 2>/dev/null || true
    while kill -0 "${pid}" 2>/dev/null && ((waited < STOP_TIMEOUT * 2)); do
      sleep 0.5
      waited=$((waited + 1))
    done
    if kill -0 "${pid}" 2>/dev/null; then
      log "broker did not exit within ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
      while kill -0 "${pid}" 2>/dev/null; do sleep 0.2; done
    fi
  else
    log "no broker running for port ${port}"
  fi
  wipe_state "${state}"
}

do_status() {
  local port state pid
  port="$(parse_port "${1:-}")"
  state="$(state_dir_for "${port}")"
  if pid="$(running_pid "${state}")"; then
    local conf=
    if [[ -f "${state}/client.properties" ]]; then conf="${state}/client.properties"; fi
    if command -v kcat >/dev/null 2>&1 && ! broker_answers "${port}" "${conf}"; then
      log "broker pid ${pid} is running but does not answer on 127.0.0.1:${port}"
      exit 1
    fi
    log "running: pid ${pid}, state ${state}"
    broker_line "${state}" "${port}"
  else
    log "not running (port ${port}, state ${state})"
    exit 1
  fi
}

# ---------------------------------------------------------------------------------------
# A three-node cluster for broker failover tests. Every node is a combined broker and KRaft
# controller (process.roles=broker,controller): three JVMs, a quorum of three voters that
# survives the loss of any one node. Node N's broker listens on PORT+2(N-1), its controller
# on the port after it; its state is ${cluster state}/nodeN.

cluster_state_for() { printf '%s\n' "${PEMX_KAFKA_CLUSTER_STATE:-/tmp/pemx-kafka-cluster-$1}"; }
node_port() { printf '%s\n' "$(($1 + 2 * ($2 - 1)))"; }

parse_cluster_port() {
  local p="${1:-}"
  [[ -n "${p}" ]] || die "PORT is required for the cluster commands (e.g. $0 start-cluster 19410)"
  if ! [[ "${p}" =~ ^[0-9]{1,5}$ ]] || ((10#${p} < 1024 || 10#${p} > 65530)); then
    die "invalid PORT '${p}' (want 1024..65530; the cluster uses PORT..PORT+5)"
  fi
  printf '%s\n' "$((10#${p}))"
}

parse_node() {
  local n="${1:-}"
  [[ "${n}" =~ ^[1-3]$ ]] || die "invalid node '${n}' (want 1, 2 or 3)"
  printf '%s\n' "${n}"
}

bootstrap_list() {
  local port=$1 n out=""
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    out+="${out:+,}127.0.0.1:$(node_port "${port}" "${n}")"
  done
  printf '%s\n' "${out}"
}

write_cluster_config() {
  local state=$1 port=$2 node=$3 voters="" n bport cport
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    voters+="${voters:+,}${n}@127.0.0.1:$(($(node_port "${port}" "${n}") + 1))"
  done
  bport="$(node_port "${port}" "${node}")"
  cport=$((bport + 1))
  cat >"${state}/server.properties" <<EOF
# Generated by tests/broker/kafka.sh: node ${node} of a three-node KRaft cluster for PEMX's
# broker failover tests.
process.roles=broker,controller
node.id=${node}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://127.0.0.1:${bport},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${bport}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${state}/data
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
num.recovery.threads.per.data.dir=1
background.threads=2
log.retention.hours=24
EOF
  write_log4j "${state}"
}

# True when the broker on $2 answers and lists all three nodes (each registered with, and
# unfenced by, the active controller: so the quorum has a leader).
cluster_answers_on() {
  local port=$1 bport=$2 out n
  out="$(timeout 10 kcat -b "127.0.0.1:${bport}" -L -m 3 2>/dev/null)" || return 1
  [[ "${out}" == *" ${CLUSTER_NODES} brokers:"* ]] || return 1
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    [[ "${out}" == *"broker ${n} at 127.0.0.1:$(node_port "${port}" "${n}")"* ]] || return 1
  done
}

# Waits until every node in $3.. (by number) answers and lists the whole cluster.
wait_cluster() {
  local port=$1 root=$2 deadline pid n pending
  shift 2
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    sleep 0.5
    pending=0
    for n in "$@"; do
      pid="$(cat "${root}/node${n}/kafka.pid" 2>/dev/null || true)"
      if [[ -n "${pid}" ]] && ! kill -0 "${pid}" 2>/dev/null; then
        dump_logs "${root}/node${n}"
        die "node ${n} exited during startup (state dir ${root}/node${n})"
      fi
      if [[ -z "${pid}" ]] || ! cluster_answers_on "${port}" "$(node_port "${port}" "${n}")"; then
        pending=1
      fi
    done
    ((pending)) || return 0
    if ((SECONDS >= deadline)); then
      for n in "$@"; do dump_logs "${root}/node${n}"; done
      die "the cluster on 127.0.0.1:${port} did not list all ${CLUSTER_NODES} brokers within ${START_TIMEOUT}s (state dir ${root})"
    fi
  done
}

kill_node() {  # kill -9 a node and wait until it is gone
  local state=$1 pid
  pid="$(running_pid "${state}")" || return 1
  kill -KILL "${pid}" 2>/dev/null || true
  while kill -0 "${pid}" 2>/dev/null; do sleep 0.1; done
}

do_start_cluster() {
  local port root state n p pid started cluster_id
  port="$(parse_cluster_port "${1:-}")"
  root="$(cluster_state_for "${port}")"
  started=${SECONDS}
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    if pid="$(running_pid "${root}/node${n}")"; then
      die "a cluster node already runs on 127.0.0.1:$(node_port "${port}" "${n}") (pid ${pid}); run: $0 stop-cluster ${port}"
    fi
  done
  for ((p = port; p < port + 2 * CLUSTER_NODES; p++)); do
    port_in_use "${p}" && die "port ${p} on 127.0.0.1 is already in use (the cluster needs ${port}..$((port + 2 * CLUSTER_NODES - 1))); pick another PORT"
  done

  java_bin >/dev/null
  ensure_kcat
  do_fetch

  wipe_state "${root}"
  mkdir -p "${root}"
  : >"${root}/${MARKER}"
  cluster_id="$(random_cluster_id)"
  local -a formats=()
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    state="${root}/node${n}"
    mkdir -p "${state}/logs" "${state}/data"
    : >"${state}/${MARKER}"
    write_cluster_config "${state}" "${port}" "${n}"
    # The three formats in parallel (a JVM start each); a failure has printed its output.
    format_storage "${state}" "${cluster_id}" &
    formats+=($!)
  done
  for pid in "${formats[@]}"; do wait "${pid}" || die "formatting the cluster's storage failed"; done
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    launch_node "${root}/node${n}" "${CLUSTER_HEAP_OPTS}"
  done
  wait_cluster "${port}" "${root}" 1 2 3
  log "cluster up on $(bootstrap_list "${port}") (state ${root}) in $((SECONDS - started))s"
  bootstrap_list "${port}"
}

do_stop_cluster() {
  local port root n
  port="$(parse_cluster_port "${1:-}")"
  root="$(cluster_state_for "${port}")"
  # SIGKILL: the state is deleted right after, so a clean shutdown would buy nothing (and
  # the last node's controlled shutdown waits for a quorum that is already gone).
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    if kill_node "${root}/node${n}"; then log "stopped node ${n} of the cluster on port ${port}"; fi
  done
  wipe_state "${root}"
}

do_status_cluster() {
  local port root n pid
  port="$(parse_cluster_port "${1:-}")"
  root="$(cluster_state_for "${port}")"
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    if ! pid="$(running_pid "${root}/node${n}")"; then
      log "node ${n} is not running (port $(node_port "${port}" "${n}"), state ${root}/node${n})"
      exit 1
    fi
    if ! cluster_answers_on "${port}" "$(node_port "${port}" "${n}")"; then
      log "node ${n} (pid ${pid}) runs but does not list the whole cluster"
      exit 1
    fi
  done
  log "running: ${CLUSTER_NODES} nodes, state ${root}"
  bootstrap_list "${port}"
}

do_kill_broker() {
  local port node root
  port="$(parse_cluster_port "${1:-}")"
  node="$(parse_node "${2:-}")"
  root="$(cluster_state_for "${port}")"
  kill_node "${root}/node${node}" \
    || die "node ${node} of the cluster on port ${port} is not running (state ${root}/node${node})"
  log "killed node ${node} (127.0.0.1:$(node_port "${port}" "${node}")) with SIGKILL"
}

do_start_broker() {
  local port node root state pid started
  port="$(parse_cluster_port "${1:-}")"
  node="$(parse_node "${2:-}")"
  root="$(cluster_state_for "${port}")"
  state="${root}/node${node}"
  started=${SECONDS}
  [[ -f "${state}/server.properties" && -f "${state}/${MARKER}" ]] \
    || die "no cluster state for node ${node} in ${state}; run: $0 start-cluster ${port}"
  if pid="$(running_pid "${state}")"; then
    die "node ${node} already runs (pid ${pid})"
  fi
  launch_node "${state}" "${CLUSTER_HEAP_OPTS}"
  wait_cluster "${port}" "${root}" "${node}"
  log "node ${node} back on 127.0.0.1:$(node_port "${port}" "${node}") in $((SECONDS - started))s"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "${cmd}" in
    fetch) do_fetch ;;
    start) do_start "$@" ;;
    start-secure) do_start "${1:-}" secure ;;
    stop) do_stop "$@" ;;
    status) do_status "$@" ;;
    start-cluster) do_start_cluster "$@" ;;
    stop-cluster) do_stop_cluster "$@" ;;
    status-cluster) do_status_cluster "$@" ;;
    kill-broker) do_kill_broker "$@" ;;
    start-broker) do_start_broker "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
