#!/usr/bin/env bash
# Validates the OpenAPI document (docs/openapi.json, embedded in the binary and served at
# /openapi.json) against the OpenAPI specification it declares, offline, with the pinned
# openapi-spec-validator. It first checks that the validator catches a broken copy of the
# document (a response without its description, a JSON Schema "type": "null" that OpenAPI
# 3.0 does not have), so a validator that checks nothing fails too.
# That each status the server sends is listed in the document is the unit test
# tests/plugins/http_front/openapi_statuses_test.cpp.
# Usage: scripts/validate-openapi.sh [DOCUMENT]   (default docs/openapi.json)
# Needs python3 with venv; pip fetches the pinned packages once into build/openapi-venv.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
doc=${1:-$root/docs/openapi.json}
reqs=$root/scripts/validate-openapi-requirements.txt
venv=$root/build/openapi-venv

# shellcheck source=scripts/lib/pinned-venv.sh
source "$root/scripts/lib/pinned-venv.sh"
pinned_venv "$reqs" "$venv"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The self-test: each broken copy must be refused.
"$venv/bin/python" - "$doc" "$work" <<'PY'
import json, sys
doc, work = sys.argv[1], sys.argv[2]
d = json.load(open(doc))
no_description = json.loads(json.dumps(d))
no_description["paths"]["/healthz"]["get"]["responses"]["200"].pop("description")
json.dump(no_description, open(f"{work}/no-description.json", "w"))
null_type = json.loads(json.dumps(d))
null_type["components"]["schemas"]["Error"]["properties"]["error"] = {"type": "null"}
json.dump(null_type, open(f"{work}/null-type.json", "w"))
PY
for broken in "$work"/no-description.json "$work"/null-type.json; do
  if "$venv/bin/openapi-spec-validator" "$broken" >/dev/null 2>&1; then
    echo "validate-openapi: the validator accepted a broken copy ($(basename "$broken"))" >&2
    exit 1
  fi
done
"$venv/bin/openapi-spec-validator" "$doc"
