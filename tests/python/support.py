"""support.py - helpers shared by the Python binding's tests (tests/python/test_*.py).

The tests run with the interpreter the binding was built for (ctest passes Debian's
/usr/bin/python3) and PYTHONPATH pointing at the built module. Tests that need their own
OTEL_* configuration run a child interpreter (the pipeline is created once per process
from the environment).
"""
import json
import os
import subprocess
import sys
import textwrap
import time

import dptrace  # noqa: F401  (fails early and clearly when the module is not built)


# Under AddressSanitizer (LD_PRELOAD of libasan, see asan_run.py) freed memory sits in a
# quarantine, so RSS and C heap sizes say nothing; those checks are skipped then.
UNDER_SANITIZER = "libasan" in os.environ.get("LD_PRELOAD", "")


def run_child(code, env=None, timeout=60):
    """Runs code in a new interpreter with the same PYTHONPATH; returns (rc, out, err, s)."""
    e = dict(os.environ)
    e.update(env or {})
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def read_spans(path):
    """Every span of an OTLP JSON lines file, as (resource attributes dict, span dict)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            req = json.loads(line)
            for rs in req.get("resourceSpans", []):
                res = {a["key"]: list(a["value"].values())[0]
                       for a in rs.get("resource", {}).get("attributes", [])}
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        out.append((res, s))
    return out


def rss_bytes():
    """Resident set size of this process (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def c_heap_bytes():
    """Bytes in use in the C heap (glibc mallinfo2: libdptrace's records, arenas, ...), or
    None when the C library has no mallinfo2. Unlike RSS it is not blurred by
    fragmentation or by pymalloc's arenas."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
            .split())]
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = MallInfo2
    m = fn()
    return m.uordblks + m.hblkhd


def live_spans():
    """Span objects alive in this interpreter (they are tracked by the garbage collector)."""
    import gc
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is dptrace.Span)
