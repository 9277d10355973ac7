"""bench_python.py - what a span costs in the dptrace Python module, against the floor of an
empty Python context manager measured in the same run.

    PYTHONPATH=build/bindings/python /usr/bin/python3 bench/bench_python.py [--quick]
    PYTHONPATH=build/bindings/python /usr/bin/python3 bench/bench_python.py --callgrind

Prints one line per scenario: name, ns per operation (median of the repeats, then the
spread min-max), and for spans the cost above the floor of the same kind. Then the
allocations on the Python side per span (tracemalloc and sys.getallocatedblocks).

Each pipeline configuration runs in a child interpreter of its own (the pipeline is built
once per process from the OTEL_* environment):
  none   OTEL_TRACES_EXPORTER=none: start, end, the trace store (the default processor)
  batch  the batch processor and the file exporter writing to /dev/null (the export
         thread encodes OTLP JSON on the other core)
  nostore  as none, with the store off (DPTRACE_STORE_MAX_SPANS=0)
Scenarios are interleaved (floor, span, floor, span, ...) so that a noisy neighbour
affects both alike.

--callgrind counts instructions instead (valgrind; noise-free, comparable across runs):
each scenario runs under callgrind with 20,000 and 60,000 operations, and the difference
divided by 40,000 is the instruction count of one operation, start-up excluded.
"""
import json
import os
import statistics
import subprocess
import sys
import time

QUICK = "--quick" in sys.argv
N = 20_000 if QUICK else 200_000
REPEATS = 3 if QUICK else 7

CONFIGS = {
    "none": {"OTEL_TRACES_EXPORTER": "none"},
    "batch": {"OTEL_TRACES_EXPORTER": "file", "DPTRACE_EXPORT_FILE": "/dev/null",
              "OTEL_BSP_SCHEDULE_DELAY": "200"},
    "nostore": {"OTEL_TRACES_EXPORTER": "none", "DPTRACE_STORE_MAX_SPANS": "0"},
}


def scenarios():
    """name -> (function(n), the floor it is compared with)."""
    import asyncio  # noqa: F401  (imported before timing)
    import dptrace

    t = dptrace.Tracer()
    at = dptrace.AsyncTracer()
    never = dptrace.Tracer(sampler=dptrace.Sampler(0))

    class Empty:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class AEmpty:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

    def loop(n):
        for _ in range(n):
            pass

    def floor(n):
        for _ in range(n):
            with Empty():
                pass

    def span(n):
        for _ in range(n):
            with t.span("op"):
                pass

    def span_unsampled(n):
        for _ in range(n):
            with never.span("op"):
                pass

    def start_end(n):
        for _ in range(n):
            t.start_span("op").end()

    def span_2attrs(n):
        for _ in range(n):
            with t.span("op") as s:
                s.set_attribute("http.response.status_code", 200)
                s.set_attribute("http.route", "/orders/{id}")

    def drive(coro):
        try:
            coro.send(None)  # nothing awaits for real: it runs to the end at once
        except StopIteration:
            pass
        else:
            raise RuntimeError("the benchmark coroutine suspended")

    async def afloor_body(n):
        for _ in range(n):
            async with AEmpty():
                pass

    async def aspan_body(n):
        for _ in range(n):
            async with at.span("op"):
                pass

    async def asyncwith_sync_body(n):
        for _ in range(n):
            with at.span("op"):
                pass

    def afloor(n):
        drive(afloor_body(n))

    def aspan(n):
        drive(aspan_body(n))

    def aspan_sync_with(n):
        drive(asyncwith_sync_body(n))

    return [
        ("loop", loop, None),
        ("floor_with", floor, None),
        ("span_with", span, "floor_with"),
        ("span_with_unsampled", span_unsampled, "floor_with"),
        ("start_span_end", start_end, None),
        ("span_with_2_set_attribute", span_2attrs, "floor_with"),
        ("floor_async_with", afloor, None),
        ("span_async_with", aspan, "floor_async_with"),
        ("asynctracer_span_with", aspan_sync_with, "floor_with"),
    ], t


def child():
    import dptrace
    groups, t = scenarios()

    class Empty:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    for _, fn, _ in groups:
        fn(N // 10)  # warm-up: pools, caches
    times = {name: [] for name, _, _ in groups}
    for _ in range(REPEATS):
        for name, fn, _ in groups:
            t0 = time.perf_counter_ns()
            fn(N)
            times[name].append((time.perf_counter_ns() - t0) / N)
    res = {}
    for name, _, floor_of in groups:
        v = times[name]
        res[name] = {"median": statistics.median(v), "min": min(v), "max": max(v),
                     "floor": floor_of}

    # Allocations on the Python side, per span: blocks and bytes alive inside the block
    # (what the span holds while it runs) and left after it (should be none), and the peak
    # of transient bytes, with tracemalloc; the floor likewise.
    import tracemalloc

    def alloc_of(enter):
        # the measurement's own cost (an int or two) is measured with nothing and removed
        inside, after, peak = [], [], []
        tracemalloc.start()
        for i in range(400):
            b0 = sys.getallocatedblocks()
            m0 = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            with enter():
                b1 = sys.getallocatedblocks()
                m1 = tracemalloc.get_traced_memory()[0]
            b2 = sys.getallocatedblocks()
            m2, p = tracemalloc.get_traced_memory()
            if i >= 100:
                inside.append(b1 - b0)
                after.append(b2 - b0)
                peak.append(p - m0)
        tracemalloc.stop()
        return {"blocks_inside": statistics.median(inside),
                "blocks_after": statistics.median(after), "peak_bytes": statistics.median(peak)}

    res["alloc_floor_with"] = alloc_of(Empty)
    res["alloc_span_with"] = alloc_of(lambda: t.span("op"))
    st = dptrace.stats()
    res["stats"] = {k: st[k] for k in ("spans_ended", "spans_exported", "spans_dropped_queue",
                                        "store_spans")}
    print(json.dumps(res))


def callgrind_child():
    name, n = sys.argv[sys.argv.index("--cg-one") + 1], int(sys.argv[-1])
    groups, _ = scenarios()
    fn = {g[0]: g[1] for g in groups}[name]
    fn(n)


def callgrind():
    import re
    names = [g[0] for g in scenarios()[0]]
    print("# instructions per operation (callgrind, 60,000 - 20,000 operations), %s"
          % time.strftime("%Y-%m-%d", time.gmtime()))
    for cname in ("none", "nostore"):
        print("\n[%s]" % cname)
        res = {}
        for name in names:
            counts = []
            for n in (20000, 60000):
                p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                    sys.executable, __file__, "--cg-one", name, str(n)],
                                   env=dict(os.environ, **CONFIGS[cname]), capture_output=True,
                                   text=True)
                m = re.search(r"refs:\s+([\d,]+)", p.stderr)
                if p.returncode != 0 or not m:
                    print(p.stderr[-2000:], file=sys.stderr)
                    sys.exit(1)
                counts.append(int(m.group(1).replace(",", "")))
            res[name] = (counts[1] - counts[0]) / 40000
        floors = {g[0]: g[2] for g in scenarios()[0]}
        for name in names:
            extra = ""
            if floors[name]:
                extra = "  (+%.0f over %s)" % (res[name] - res[floors[name]], floors[name])
            print("%-28s %8.0f instructions%s" % (name, res[name], extra))


def main():
    import platform
    print("# dptrace Python module benchmark: %s %s, %s, %d x %d ops per scenario"
          % (platform.python_implementation(), platform.python_version(), sys.executable,
             REPEATS, N))
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        print("# %s, %d CPUs, load average %s" % (cpu, os.cpu_count(),
                                                  " ".join(open("/proc/loadavg").read().split()[:3])))
    except (OSError, StopIteration):
        pass
    print("# %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    for cname, env in CONFIGS.items():
        e = dict(os.environ, **env)
        p = subprocess.run([sys.executable, __file__, "--child"] + sys.argv[1:], env=e,
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            sys.exit(1)
        r = json.loads(p.stdout)
        print("\n[%s] %s" % (cname, " ".join("%s=%s" % kv for kv in env.items())))
        for name, v in r.items():
            if name.startswith("alloc_") or name == "stats":
                continue
            extra = ""
            if v["floor"]:
                extra = "  (+%.0f over %s)" % (v["median"] - r[v["floor"]]["median"], v["floor"])
            print("%-28s %8.1f ns  (%.1f-%.1f)%s" % (name, v["median"], v["min"], v["max"], extra))
        for name in ("alloc_floor_with", "alloc_span_with"):
            a = r[name]
            print("%-28s blocks alive inside %g, left after %g, peak %g bytes"
                  % (name, a["blocks_inside"], a["blocks_after"], a["peak_bytes"]))
        print("%-28s %s" % ("pipeline", r["stats"]))


if __name__ == "__main__":
    if "--cg-one" in sys.argv:
        callgrind_child()
    elif "--callgrind" in sys.argv:
        callgrind()
    elif "--child" in sys.argv:
        child()
    else:
        main()
