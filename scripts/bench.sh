#!/usr/bin/env bash
# Runs the benchmarks against real servers started like the tests'.
#   scripts/bench.sh                      all benchmarks, once each
#   scripts/bench.sh BenchmarkIngestCSV   one of them
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/testenv.sh
trap recon_testenv_stop EXIT
recon_testenv_start || exit 1
go test -run '^$' -bench "${1:-.}" -benchtime "${BENCHTIME:-1x}" -benchmem ./...
