#!/usr/bin/env bash
#  The one command to run docusnap: install what is needed, build, and
#  start the whole pipeline on this machine with its built-in defaults
#  (SQLite in ./docusnap-data, HTTP on 127.0.0.1:8080, offline extraction).
#  Extra arguments go to `docusnap up`, e.g. --workers 2 --http-port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
exec build/bin/docusnap up "$@"
