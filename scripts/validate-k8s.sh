#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/kubernetes offline (no cluster): every object
# against the schemas of Kubernetes $PEMX_K8S_VERSION, KEDA's objects against the schemas of
# the fields we use, the parts against each other and pemx.toml, and, when a pemx binary is
# there, `pemx check-config` on the ConfigMap's pemx.toml as each pod would run it.
# What is and is not checked: scripts/validate_k8s.py, docs/deploying.md ("Kubernetes").
# Usage: scripts/validate-k8s.sh [MANIFEST_DIR]   (default deploy/kubernetes)
# Environment: PEMX_K8S_VERSION (default 1.30.0), PEMX_BIN the pemx binary for check-config
#              (required when set, as scripts/test.sh does; unset: build/pemx if it exists,
#              else that step is skipped with a note).
# Needs python3 with venv; pip fetches the pinned packages once into build/k8s-venv.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/deploy/kubernetes}
k8s_version=${PEMX_K8S_VERSION:-1.30.0}
pemx=${PEMX_BIN:-$root/build/pemx}
if [[ -n ${PEMX_BIN:-} && ! -x $PEMX_BIN ]]; then
  echo "validate-k8s: PEMX_BIN=$PEMX_BIN is not an executable: build pemx first" >&2
  exit 1
fi
reqs=$root/scripts/validate-k8s-requirements.txt
venv=$root/build/k8s-venv

# shellcheck source=scripts/lib/pinned-venv.sh
source "$root/scripts/lib/pinned-venv.sh"
pinned_venv "$reqs" "$venv"

args=(--dir "$dir" --repo "$root" --kubernetes-version "$k8s_version")
# The default manifests also get the self-test: broken copies of them must fail.
if [[ $dir == "$root/deploy/kubernetes" ]]; then args+=(--self-test); fi
if [[ -x $pemx ]]; then
  args+=(--pemx "$pemx")
else
  echo "validate-k8s: no pemx binary at $pemx: pemx check-config of the ConfigMap skipped" >&2
fi
exec "$venv/bin/python" "$root/scripts/validate_k8s.py" "${args[@]}"
