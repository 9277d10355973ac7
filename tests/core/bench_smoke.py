#!/usr/bin/env python3
"""The bench runs and its figures add up: every batch scenario's spans are accounted
(ended == exported + dropped + failed: dptrace's accounting rule, docs/ARCHITECTURE.md),
and the paired scaling scenario reports each of its ratios (or says it was skipped on a
machine with one CPU). Times are not checked: timing goals live in bench/, not in tests.

usage: bench_smoke.py DPTRACE_BENCH"""
import json
import os
import subprocess
import sys

bench = sys.argv[1]
scen = ["span_sampled_batch", "span_sampled_batch_2threads", "span_sampled_batch_2threads_paired"]
out = subprocess.run([bench, "--json", "--ops", "16000", "--repeats", "1"] + scen,
                     capture_output=True, text=True, timeout=240)
assert out.returncode == 0, out.stderr
doc = json.loads(out.stdout)
res = {r["name"]: r for r in doc["results"]}
for name in scen[:2]:
    assert name in res, f"{name} missing: {sorted(res)}"
batch = [r for r in doc["results"] if "ended" in r]
assert batch, "no batch scenario counted its spans"
for r in batch:
    assert r["ended"] > 0, r
    assert r["ended"] == r["exported"] + r["dropped"] + r["failed"], r
ratios = ["scaling_floor_ilp_paired", "scaling_floor_paired", "scaling_noproc_paired",
          "scaling_2threads_paired"]
if len(os.sched_getaffinity(0)) >= 2:
    for name in ratios:
        assert name in res, f"{name} missing"
        r = res[name]
        assert 0 < r["min"] <= r["value"] <= r["max"], r
    assert res["span_sampled_batch_2threads_paired"]["ended"] > 0
else:
    assert "skipped, fewer than 2 CPUs" in out.stderr, out.stderr
print(f"ok: {len(batch)} batch scenarios accounted, ratios {[res[n]['value'] for n in ratios if n in res]}")
