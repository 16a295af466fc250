#!/usr/bin/env bash
# Builds the Debian package (cpack, from the build tree of scripts/build.sh) and checks it as a
# host would use it: the installed `pemx --version` and `pemx check-config` on the installed
# config, the systemd unit with `systemd-analyze verify` (and its hardening with
# `systemd-analyze security`), and a run of the installed binary on the installed config that
# stores into the store's folder and drains on SIGTERM (exit 0).
# Usage: scripts/package.sh [--install]
#   (default)  extracts the .deb into a temporary root (dpkg-deb -x): no root needed, nothing on
#              the host changes; the run stores into a temporary folder
#   --install  dpkg -i, checks the installed files, the pemx user and /var/lib/pemx, runs the
#              binary as pemx on /var/lib/pemx, then dpkg --purge (CI: root on a fresh machine)
# Environment: PEMX_BUILD_DIR the build tree (default ./build; configured here with
#              CMAKE_INSTALL_PREFIX=/usr, which recompiles nothing),
#              PEMX_PACKAGE_PORT the HTTP port of the run (default 18480).
# The .deb is left in $PEMX_BUILD_DIR/package.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PEMX_BUILD_DIR:-$root/build}
port=${PEMX_PACKAGE_PORT:-18480}
install=0
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    *) echo "package.sh: unknown option $arg (see the usage at the top of $0)" >&2; exit 2 ;;
  esac
done
fail() { echo "package.sh: $*" >&2; exit 1; }

# --- build -------------------------------------------------------------------------------------
[[ -f $build/CMakeCache.txt ]] || fail "no build tree at $build: run scripts/build.sh first"
cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$build" --target pemx
rm -rf "$build/package"
(cd "$build" && cpack --config CPackConfig.cmake -B "$build/package" >/dev/null)
debs=("$build"/package/pemx_*.deb)
if ((${#debs[@]} != 1)) || [[ ! -f ${debs[0]} ]]; then
  fail "cpack made no single .deb in $build/package"
fi
deb=${debs[0]}
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | grep -E '^ (Package|Version|Depends):'

work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- install, or extract -----------------------------------------------------------------------
if ((install)); then
  [[ $(id -u) -eq 0 ]] || fail "--install needs root (it runs dpkg -i)"
  dpkg -i "$deb"
  prefix=""
else
  dpkg-deb -x "$deb" "$work/root"
  prefix=$work/root
fi
for f in /usr/bin/pemx /etc/pemx/pemx.toml "/usr/lib/systemd/system/pemx@.service" \
         /usr/lib/sysusers.d/pemx.conf /usr/share/doc/pemx/README.md \
         /usr/share/doc/pemx/deploying.md /usr/share/pemx/schemas/country.json \
         /usr/share/pemx/grafana/pemx.json /usr/share/pemx/prometheus/pemx-alerts.yml; do
  [[ -e $prefix$f ]] || fail "the package has no $f"
done
if ((install)); then
  grep -qx /etc/pemx/pemx.toml /var/lib/dpkg/info/pemx.conffiles ||
    fail "/etc/pemx/pemx.toml is not a conffile"
  getent passwd pemx >/dev/null || fail "the postinst made no pemx user"
  [[ $(stat -c %U /var/lib/pemx) == pemx ]] || fail "/var/lib/pemx is not owned by pemx"
else
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/pemx/pemx.toml ||
    fail "/etc/pemx/pemx.toml is not a conffile"
fi

# --- the binary and its config -----------------------------------------------------------------
echo "installed: $("$prefix/usr/bin/pemx" --version)"
"$prefix/usr/bin/pemx" check-config --config "$prefix/etc/pemx/pemx.toml" >/dev/null ||
  fail "pemx check-config refuses the installed /etc/pemx/pemx.toml"
for role in dist web all; do
  "$prefix/usr/bin/pemx" check-config --config "$prefix/etc/pemx/pemx.toml" --role="$role" \
    >/dev/null || fail "pemx check-config --role=$role refuses the installed config"
done
grep -q '^path = "/var/lib/pemx/pemx.db"' "$prefix/etc/pemx/pemx.toml" ||
  fail "the installed config's store is not /var/lib/pemx/pemx.db"
# Its commented [schemas] example names the installed schemas: uncommented, it loads them.
sed -e 's|^# \[schemas\]$|[schemas]|' \
    -e "s|^# \([A-Za-z]* = \"\)/usr/share/pemx/schemas/|\1$prefix/usr/share/pemx/schemas/|" \
  "$prefix/etc/pemx/pemx.toml" > "$work/schemas.toml"
[[ $(grep -c "^[A-Za-z]* = \"$prefix/usr/share/pemx/schemas/" "$work/schemas.toml") -eq 3 ]] ||
  fail "the installed config's [schemas] example does not name the three installed schemas"
"$prefix/usr/bin/pemx" check-config --config "$work/schemas.toml" >/dev/null ||
  fail "the installed config's [schemas] example, uncommented, is refused"

# --- the systemd unit --------------------------------------------------------------------------
# verify prints what it ignores (an unknown key, a bad value) and still exits 0: any output fails.
# Extracted, the unit's binary is not at /usr/bin: a copy names the extracted one, nothing else
# changes.
units=$work/units
mkdir -p "$units"
sed "s|^ExecStart=/usr/bin/pemx |ExecStart=$prefix/usr/bin/pemx |" \
  "$prefix/usr/lib/systemd/system/pemx@.service" > "$units/pemx@.service"
for role in dist web all; do
  out=$(systemd-analyze verify "$units/pemx@$role.service" 2>&1) ||
    fail "systemd-analyze verify pemx@$role.service failed: $out"
  [[ -z $out ]] || fail "systemd-analyze verify pemx@$role.service: $out"
done
# The hardening must not erode: systemd's exposure score (0 safest, 10 none; --threshold
# counts tenths) stays at 2.5 or below (1.6 today).
systemd-analyze security --offline=yes --threshold=25 --no-pager "$units/pemx@dist.service" \
  > "$work/security.txt" 2>&1 || {
  cat "$work/security.txt" >&2
  fail "pemx@.service's exposure (systemd-analyze security) is above 2.5"
}
echo "unit: verified; $(grep -o 'Overall exposure level.*' "$work/security.txt")"

# --- a run of the installed binary on the installed config -------------------------------------
# The embedded Kafka cluster (no broker needed); installed, as the pemx user on /var/lib/pemx.
run=("$prefix/usr/bin/pemx" --role=all --config "$prefix/etc/pemx/pemx.toml"
     --set kafka.brokers=embedded --set "http.listen=127.0.0.1:$port")
if ((install)); then
  # setpriv execs pemx itself (runuser would stay its parent and turn SIGTERM into 143).
  run=(setpriv --reuid=pemx --regid=pemx --clear-groups -- "${run[@]}")
  db=/var/lib/pemx/pemx.db
else
  db=$work/pemx.db
  run+=(--set "stages.store.path=$db")
fi
(cd / && exec "${run[@]}") > "$work/run.log" 2>&1 &
pid=$!
ready=0
for _ in $(seq 1 150); do  # 30 s at most
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if ((!ready)); then
  cat "$work/run.log" >&2
  fail "the installed pemx did not become ready on 127.0.0.1:$port"
fi
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
if ((rc != 0)); then
  cat "$work/run.log" >&2
  fail "the installed pemx exited $rc on SIGTERM (expected 0)"
fi
[[ -f $db ]] || fail "the run made no store at $db"
if ((install)); then
  [[ $(stat -c %U "$db") == pemx ]] || fail "$db is not owned by pemx"
  dpkg --purge pemx
  getent passwd pemx >/dev/null || fail "the purge removed the pemx user (it must stay)"
  [[ -f $db ]] || fail "the purge removed the store $db (it must stay)"
  rm -rf /var/lib/pemx
fi
echo "package: ok"
