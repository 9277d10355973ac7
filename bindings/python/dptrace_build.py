"""dptrace_build - the PEP 517 build backend of the dptrace Python module.

It compiles the extension (bindings/python/src/*.c) together with libdptrace's sources
(src/common, core, propagation, export, async, config; src/http too when libcurl and zlib
are found with pkg-config) into one shared object, and packs it into a wheel. Only the
standard library and a C compiler are needed, so `pip install ./bindings/python` works
without network access. The compiler is $CC, else the one Python was built with; $CFLAGS
are added; $DPTRACE_BUILD_JOBS (default 2) files are compiled at a time.
"""
import base64
import concurrent.futures
import hashlib
import os
import pathlib
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NAME = "dptrace"
# libdptrace's source folders (CMakeLists.txt's DPT_SOURCES); src/http is added when
# libcurl and zlib are found.
LIB_PARTS = ("common", "core", "propagation", "export", "async", "config")


def _version():
    header = ROOT / "include" / "dptrace.h"
    m = re.search(r'#define DPTRACE_VERSION_STRING "([^"]+)"', header.read_text())
    if not m:
        raise RuntimeError("cannot read the version from %s" % header)
    return m.group(1)


def _check_tree():
    if not (ROOT / "include" / "dptrace.h").is_file() or not all(
            (ROOT / "src" / p).is_dir() for p in LIB_PARTS):
        raise RuntimeError(
            "dptrace_build: build from the dptrace source tree (pip install ./bindings/python "
            "from the repository); %s has no include/dptrace.h" % ROOT)


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(out.stdout)


def _tags():
    impl = "cp" if platform.python_implementation() == "CPython" else "py"
    py = "%s%d%d" % (impl, sys.version_info[0], sys.version_info[1])
    abi = py + getattr(sys, "abiflags", "")
    plat = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return "%s-%s-%s" % (py, abi, plat)


def _accepts(cc, flag, build_dir):
    """Whether the compiler takes flag."""
    src = build_dir / "probe.c"
    src.write_text("int dpt_probe;\n")
    r = subprocess.run(cc + [flag, "-c", str(src), "-o", str(build_dir / "probe.o")],
                       capture_output=True)
    return r.returncode == 0


def _compile(build_dir):
    _check_tree()
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not shutil.which(cc[0]):
        cc = ["cc"]
    sources = sorted((HERE / "src").glob("*.c"))
    for part in LIB_PARTS:
        sources += sorted((ROOT / "src" / part).glob("*.c"))
    cflags = [
        "-std=gnu11", "-O2", "-g", "-fPIC", "-pthread", "-fvisibility=hidden",
        "-DDPT_STATIC_BUILD=1",
        "-I", str(ROOT / "include"), "-I", str(ROOT / "src" / "common"),
        "-I", str(ROOT / "src" / "core"),
        "-isystem", sysconfig.get_paths()["include"],
    ]
    libs = ["-pthread"]
    curl = _pkg_config("--cflags", "--libs", "libcurl", "zlib")
    if curl is not None and (ROOT / "src" / "http").is_dir():
        sources += sorted((ROOT / "src" / "http").glob("*.c"))
        cflags += [f for f in curl if not f.startswith(("-l", "-L"))] + ["-DDPY_HAVE_HTTP=1"]
        libs += [f for f in curl if f.startswith(("-l", "-L"))]
    else:
        print("dptrace_build: libcurl/zlib not found with pkg-config: no OTLP/Zipkin export",
              file=sys.stderr)
    cflags += shlex.split(os.environ.get("CFLAGS", ""))

    def one(src):
        rel = src.relative_to(ROOT)
        obj = build_dir / (str(rel).replace(os.sep, "_") + ".o")
        subprocess.run(cc + cflags + ["-c", str(src), "-o", str(obj)], check=True)
        return obj

    jobs = max(1, int(os.environ.get("DPTRACE_BUILD_JOBS", "2")))
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        objs = list(ex.map(one, sources))
    out = build_dir / (NAME + sysconfig.get_config_var("EXT_SUFFIX"))
    ldflags = shlex.split(os.environ.get("LDFLAGS", ""))
    subprocess.run(cc + ["-shared", "-o", str(out)] + [str(o) for o in objs] + ldflags + libs,
                   check=True)
    return out


def _metadata():
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Distributed tracing for Python services on libdptrace (C)\n"
            "Requires-Python: >=3.9\n" % (NAME, _version()))


def _dist_info():
    return "%s-%s.dist-info" % (NAME, _version())


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = pathlib.Path(metadata_directory) / _dist_info()
    d.mkdir(parents=True, exist_ok=True)
    (d / "METADATA").write_text(_metadata())
    return d.name


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tags()
    with tempfile.TemporaryDirectory(prefix="dptrace-build-") as tmp:
        so = _compile(pathlib.Path(tmp))
        files = {
            so.name: so.read_bytes(),
            _dist_info() + "/METADATA": _metadata().encode(),
            _dist_info() + "/WHEEL": ("Wheel-Version: 1.0\nGenerator: dptrace_build\n"
                                      "Root-Is-Purelib: false\nTag: %s\n" % tag).encode(),
        }
    record = _dist_info() + "/RECORD"
    lines = [_record_line(n, d) for n, d in files.items()] + [record + ",,"]
    files[record] = ("\n".join(lines) + "\n").encode()
    wheel = "%s-%s-%s.whl" % (NAME, _version(), tag)
    with zipfile.ZipFile(pathlib.Path(wheel_directory) / wheel, "w",
                         zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return wheel


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("dptrace_build: no source distribution; build the wheel from the "
                       "dptrace source tree (pip install ./bindings/python)")
