# shellcheck shell=bash
# Sourced by the validation scripts: pinned_venv REQUIREMENTS VENV makes (or keeps) a Python
# venv holding exactly the pinned packages; it is rebuilt when the requirements file changes.
pinned_venv() {
  local reqs=$1 venv=$2
  if ! cmp -s "$reqs" "$venv/requirements.txt" 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-virtualenv -r "$reqs"
    cp "$reqs" "$venv/requirements.txt"
  fi
}
