#!/usr/bin/env bash
# Matching unchanged? Generates noisy days (every bank format, with and
# without the hard situations and their FX rates) and reconciles each with
# two builds of recon; the matches, breaks and rejections must be
# byte-identical (summary.json holds timings and is skipped). Prints one
# line per day with the new build's scores (precision, recall, ...).
#
#   scripts/accuracy-ab.sh OLD_RECON NEW_RECON [SEED ...]
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_RECON NEW_RECON [SEED ...]" >&2; exit 2; }
old=$1 new=$2; shift 2
seeds=("$@"); [ ${#seeds[@]} -eq 0 ] && seeds=(9101 9202 9303)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
differ=0
for seed in "${seeds[@]}"; do for f in csv mt940 camt053 bai2; do for hs in 0 0.5; do
  d=$work/$f-$seed-$hs
  "$new" gen --noisy --seed "$seed" --bank-format "$f" --hard-share "$hs" --out "$d" >/dev/null || exit 1
  extra=(); [ "$hs" != 0 ] && extra=(--fx-rates "$d/fx-rates.csv")
  for v in old new; do
    bin=$old; [ $v = new ] && bin=$new
    "$bin" reconcile --bank "$d"/bank.* --ledger "$d/ledger.csv" --out "$d/o-$v" "${extra[@]}" >/dev/null 2>&1 || { echo "reconcile failed: $v $f seed $seed" >&2; exit 1; }
  done
  if diff -rq -x summary.json "$d/o-old" "$d/o-new" >/dev/null; then same=same; else same=DIFFERENT; differ=1; fi
  echo "$f seed=$seed hard-share=$hs $same $("$new" score --truth "$d/truth.json" --out "$d/o-new" | awk '{printf "%s ", $3}')"
  rm -rf "$d"
done; done; done
exit $differ
