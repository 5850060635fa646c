#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Installs and starts real Redis, PostgreSQL and Apache Kafka (scripts/testenv.sh),
# runs every Go test against them, runs each fuzz target for a bounded time,
# stops what it started, and ends with the test runner's summary.
#
#   scripts/test.sh                 all tests + short fuzzing
#   FUZZTIME=0 scripts/test.sh      skip fuzzing
#   scripts/test.sh ./internal/...  only these packages (no fuzzing)
set -uo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "test.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
. scripts/testenv.sh
trap recon_testenv_stop EXIT
if ! recon_testenv_start; then
  echo "test.sh: could not start the test servers" >&2
  exit 1
fi
export RECON_REQUIRE_SERVERS=1

pkgs=("$@"); [ ${#pkgs[@]} -eq 0 ] && pkgs=(./...)
fuzztime=${FUZZTIME:-10s}
[ $# -gt 0 ] && fuzztime=0

out=$(mktemp)
go test -count=1 -timeout 30m -json "${pkgs[@]}" >"$out"
rc=$?
python3 scripts/testsummary.py "$out" || rc=1

if [ "$fuzztime" != 0 ] && [ $rc -eq 0 ]; then
  # Each fuzz target for a bounded time; its seed corpus already ran above.
  while IFS=' ' read -r pkg target; do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$out.fuzz" 2>&1 \
      || { cat "$out.fuzz"; rc=1; }
  done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
             d=$(dirname "$f"); grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |./${d#./} |"; done)
fi
python3 scripts/testsummary.py --final "$out"
exit $rc
