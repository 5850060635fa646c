#!/usr/bin/env bash
# Parser throughput and peak memory on generated statement files at two
# sizes per format (streaming parsers: peak memory must not grow with size).
#   scripts/parse-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/recon" ./services/recon
printf '%-8s %8s %10s %8s %10s %12s\n' format MB entries seconds MB/s peak_RSS
for spec in "mt940 7000 125" "mt940 14000 125" "bai2 2100 500" "bai2 4200 500" "camt053 1200 100" "camt053 2400 100"; do
  set -- $spec
  f="$dir/file.$1"
  "$dir/recon" gen --format "$1" --statements "$2" --entries-per-statement "$3" --out "$f" >/dev/null
  bytes=$(stat -c %s "$f")
  start=$(date +%s.%N)
  out=$("$dir/recon" parse --count "$f" 2>&1)
  end=$(date +%s.%N)
  entries=$(sed -n 's/.* \([0-9]*\) transaction(s).*/\1/p' <<<"$out")
  rss=$(sed -n 's/peak memory (VmHWM): //p' <<<"$out")
  python3 -c "import sys; b,e,s,t=float(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print('%-8s %8.0f %10d %8.2f %10.1f %12s' % (sys.argv[5], b/1e6, e, t-s, b/1e6/(t-s), sys.argv[6]))" \
    "$bytes" "$entries" "$start" "$end" "$1" "$rss"
  rm -f "$f"
done
