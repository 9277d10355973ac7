"""asan_run.py OUT_DIR - the Python binding's tests under AddressSanitizer and
UndefinedBehaviorSanitizer: builds the module with -fsanitize=address,undefined (through
the pip build backend, into OUT_DIR), then runs the unittest suite with the sanitizer
runtimes preloaded into Debian's python3 (LD_PRELOAD; leak detection off, since the
interpreter itself keeps memory at exit). Child interpreters of the tests inherit it.
Exit 77 (skipped) when the compiler has no libasan.
"""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
HERE = pathlib.Path(__file__).resolve().parent


def runtime(name):
    p = subprocess.run(["cc", "-print-file-name=" + name], capture_output=True, text=True)
    path = p.stdout.strip()
    return path if p.returncode == 0 and os.path.isabs(path) and os.path.exists(path) else None


def main():
    out = pathlib.Path(sys.argv[1])
    asan, ubsan = runtime("libasan.so"), runtime("libubsan.so")
    if not asan or not ubsan:
        print("skip: no libasan/libubsan")
        return 77
    sys.path.insert(0, str(ROOT / "bindings" / "python"))
    import dptrace_build
    flags = "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
    os.environ["CFLAGS"] = flags
    os.environ["LDFLAGS"] = "-fsanitize=address,undefined"
    out.mkdir(parents=True, exist_ok=True)
    dptrace_build._compile(out)
    env = dict(os.environ, LD_PRELOAD="%s %s" % (asan, ubsan), PYTHONPATH=str(out),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
               DPTRACE_PY_FUZZ_CALLS="10000")
    env.pop("CFLAGS")
    env.pop("LDFLAGS")
    tests = ["test_api", "test_errors", "test_threads", "test_async", "test_pipeline"]
    return subprocess.run([sys.executable, "-m", "unittest", "-v"] + tests, env=env,
                          cwd=HERE).returncode


if __name__ == "__main__":
    sys.exit(main())
