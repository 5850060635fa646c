#!/usr/bin/env python3
"""Summarises `go test -json` output.

testsummary.py FILE          prints each package's result the way `go test`
                             does, the output of every failed or skipped test,
                             and the server notes tests log (lines "server: ...").
testsummary.py --final FILE  prints only the closing line:
                             "tests: N passed, N failed, N skipped".
Exits 1 when any test or package failed.
"""
import json
import sys

final = sys.argv[1] == "--final"
path = sys.argv[-1]
outputs, results, pkgs = {}, {}, {}
order = []
with open(path, encoding="utf-8", errors="replace") as f:
    for line in f:
        try:
            ev = json.loads(line)
        except ValueError:
            if not final:
                sys.stdout.write(line)
            continue
        pkg, test, action = ev.get("Package", ""), ev.get("Test"), ev.get("Action")
        key = (pkg, test)
        if action == "output":
            outputs.setdefault(key, []).append(ev.get("Output", ""))
        elif action in ("pass", "fail", "skip"):
            if test is None:
                pkgs[pkg] = (action, ev.get("Elapsed", 0))
                if pkg not in order:
                    order.append(pkg)
            else:
                results[key] = action

passed = sum(1 for a in results.values() if a == "pass")
failed = sum(1 for a in results.values() if a == "fail")
skipped = sum(1 for a in results.values() if a == "skip")
pkg_failed = [p for p, (a, _) in pkgs.items() if a == "fail"]

if not final:
    for key, action in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if action == "fail" or (action == "skip" and "/" not in key[1]):
            print(f"--- {action.upper()}: {key[0]} {key[1]}")
            for out in outputs.get(key, []):
                if not out.startswith(("=== ", "--- ")):
                    sys.stdout.write("    " + out)
    for key, outs in sorted(outputs.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        for out in outs:
            if "server: " in out and key[1] is not None:
                print("   ", out.strip().split("server: ", 1)[1])
    for pkg in order:
        for out in outputs.get((pkg, None), []):
            if "server:" in out or out.startswith(("FAIL", "panic")):
                sys.stdout.write(out)
        action, elapsed = pkgs[pkg]
        word = {"pass": "ok  ", "fail": "FAIL", "skip": "?   "}[action]
        print(f"{word}\t{pkg}\t{elapsed:.3f}s")
    if pkg_failed:
        print("FAIL")
    else:
        print("PASS")
else:
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or pkg_failed else 0)
