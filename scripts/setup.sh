#!/usr/bin/env bash
# Set up everything procmine needs on a fresh machine: a virtual environment with procmine
# (and, with --dev, the test tools) in .venv, the Graphviz `dot` binary and, with --dev,
# Debian's Chromium for the web page's browser tests.
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "procmine needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

apt_packages=""
command -v dot >/dev/null 2>&1 || apt_packages="graphviz"
# The browser tests drive the system's Chromium (Playwright's own browser download needs
# the internet at test time and is not used).
if [ -n "$extras" ] && ! command -v chromium >/dev/null 2>&1 && [ -z "${PROCMINE_CHROMIUM:-}" ]; then
  apt_packages="$apt_packages chromium"
fi
# The Spark engine's tests run PySpark in local mode, which needs a Java runtime (17).
if [ -n "$extras" ] && ! command -v java >/dev/null 2>&1; then
  apt_packages="$apt_packages openjdk-17-jre-headless"
fi
if [ -n "$apt_packages" ]; then
  echo "installing system packages:$apt_packages" >&2
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $apt_packages >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    command -v dot >/dev/null 2>&1 || brew install graphviz
  elif command -v dnf >/dev/null 2>&1; then
    command -v dot >/dev/null 2>&1 || sudo dnf install -y graphviz
  else
    echo "cannot install$apt_packages here: install them with your package manager" >&2
    exit 1
  fi
  if [[ "$apt_packages" == *chromium* ]] && ! command -v chromium >/dev/null 2>&1; then
    echo "no chromium on PATH: install Chromium or set PROCMINE_CHROMIUM to its binary" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the project metadata or the pinned versions changed since the last
# install. constraints.txt holds the versions the test suite was run with.
stamp=".venv/.procmine-installed${extras}"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".${extras}"
  echo "$want" > "$stamp"
fi
