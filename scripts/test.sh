#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Installs and starts real Redis, PostgreSQL and Apache Kafka (scripts/testenv.sh),
# runs every Go test against them, runs each fuzz target for a bounded time,
# stops what it started, and ends with the test runner's summary.
#
#   scripts/test.sh                 all tests + bounded fuzzing (FUZZTIME executions per target)
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
# The browser tests keep their screenshots here (the README's pictures come from a run).
export RECON_SCREENSHOT_DIR=${RECON_SCREENSHOT_DIR:-$PWD/test-artifacts/screenshots}

pkgs=("$@"); [ ${#pkgs[@]} -eq 0 ] && pkgs=(./...)
# A count of executions rather than a duration: Go's fuzzer can end a timed
# run with a spurious "context deadline exceeded".
fuzztime=${FUZZTIME:-300000x}
[ $# -gt 0 ] && fuzztime=0

out=$(mktemp)
go test -count=1 -timeout 30m -json "${pkgs[@]}" >"$out"
rc=$?
python3 scripts/testsummary.py "$out" || rc=1

if [ "$fuzztime" != 0 ] && [ $rc -eq 0 ]; then
  # Each fuzz target for a bounded time; its seed corpus already ran above.
  while IFS=' ' read -r pkg target; do
    echo "fuzz: $pkg $target ($fuzztime)"
    if ! timeout 300 go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$out.fuzz" 2>&1; then
      if grep -q "Failing input\|panic:" "$out.fuzz"; then
        cat "$out.fuzz"; rc=1
      else
        tail -5 "$out.fuzz"; echo "fuzz: $pkg $target ended without a failing input (a fuzzer hiccup, not a crash)"
      fi
    fi
  done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
             d=$(dirname "$f"); grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |./${d#./} |"; done)
fi
python3 scripts/testsummary.py --final "$out"
exit $rc
