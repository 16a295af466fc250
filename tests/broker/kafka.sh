#!/usr/bin/env bash
# Runs a real Apache Kafka 3.7.1 broker as a single KRaft node on 127.0.0.1 for
# PEMX integration tests. The broker jars come from Maven Central (via Maven and
# tests/broker/pom.xml) and are cached; no Docker, no tarball download.
#
# Usage: tests/broker/kafka.sh fetch | start [PORT] | stop [PORT] | status [PORT]
#   PORT defaults to 19092; the KRaft controller listens on PORT+1.
# `start` prints "127.0.0.1:PORT" on stdout once the broker answers; all progress
# and errors go to stderr. See tests/broker/README.md for the environment knobs.
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
JVM_OPTS="${PEMX_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:CICompilerCount=2 -XX:-UsePerfData -Djava.awt.headless=true}"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") fetch | start [PORT] | stop [PORT] | status [PORT]
  fetch         resolve the Kafka ${KAFKA_VERSION} jars into ${LIBS_DIR} (once)
  start [PORT]  start a fresh single-node KRaft broker on 127.0.0.1:PORT (default ${DEFAULT_PORT})
  stop [PORT]   stop it (SIGTERM, then SIGKILL after ${STOP_TIMEOUT}s) and remove its state dir
  status [PORT] exit 0 and print the address if it is running, exit 1 otherwise
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

broker_answers() {
  local port=$1 out
  out="$(timeout 10 kcat -b "127.0.0.1:${port}" -L -m 3 2>/dev/null)" || return 1
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

write_config() {
  local state=$1 port=$2 cport=$3
  cat >"${state}/server.properties" <<EOF
# Generated by tests/broker/kafka.sh: single-node KRaft broker for PEMX tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
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

do_start() {
  local port cport state java pid cluster_id deadline started
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
  write_config "${state}" "${port}" "${cport}"

  local -a jvm heap
  read -r -a heap <<<"${HEAP_OPTS}"
  read -r -a jvm <<<"${JVM_OPTS}"
  local -a log_opts=("-Dlog4j.configuration=file:${state}/log4j.properties" "-Dkafka.logs.dir=${state}/logs")

  cluster_id="$(random_cluster_id)"
  if ! "${java}" -Xmx256m "${jvm[@]}" "${log_opts[@]}" -cp "${LIBS_DIR}/*" kafka.tools.StorageTool \
      format -t "${cluster_id}" -c "${state}/server.properties" >"${state}/logs/format.out" 2>&1; then
    cat "${state}/logs/format.out" >&2 || true
    die "kafka-storage format failed"
  fi

  # Detach the broker into its own session; the inner shell records its pid,
  # then exec's java, so the pid file names the JVM itself.
  local -a detach=()
  if command -v setsid >/dev/null 2>&1; then detach=(setsid); fi
  # shellcheck disable=SC2016  # $$ and $@ are expanded by the inner sh
  nohup "${detach[@]}" sh -c 'echo $$ >"$0"; exec "$@"' "${state}/kafka.pid" \
    "${java}" "${heap[@]}" "${jvm[@]}" "${log_opts[@]}" \
    -cp "${LIBS_DIR}/*" kafka.Kafka "${state}/server.properties" \
    >"${state}/logs/kafka.out" 2>&1 </dev/null &

  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    sleep 0.5
    pid="$(cat "${state}/kafka.pid" 2>/dev/null || true)"
    if [[ -n "${pid}" ]] && ! kill -0 "${pid}" 2>/dev/null; then
      dump_logs "${state}"
      die "broker exited during startup (state dir ${state})"
    fi
    if [[ -n "${pid}" ]] && broker_answers "${port}"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      dump_logs "${state}"
      if [[ -n "${pid}" ]]; then kill -KILL "${pid}" 2>/dev/null || true; fi
      die "broker did not answer on 127.0.0.1:${port} within ${START_TIMEOUT}s (state dir ${state})"
    fi
  done
  log "broker up on 127.0.0.1:${port} (pid ${pid}, state ${state}) in $((SECONDS - started))s"
  printf '127.0.0.1:%s\n' "${port}"
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
    if command -v kcat >/dev/null 2>&1 && ! broker_answers "${port}"; then
      log "broker pid ${pid} is running but does not answer on 127.0.0.1:${port}"
      exit 1
    fi
    log "running: pid ${pid}, state ${state}"
    printf '127.0.0.1:%s\n' "${port}"
  else
    log "not running (port ${port}, state ${state})"
    exit 1
  fi
}

main() {
  local cmd="${1:-}"
  shift || true
  case "${cmd}" in
    fetch) do_fetch ;;
    start) do_start "$@" ;;
    stop) do_stop "$@" ;;
    status) do_status "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
