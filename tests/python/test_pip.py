"""test_pip.py - `pip install ./bindings/python` works offline: a fresh virtual environment
of this interpreter (Debian's python3 with python3-venv), pip with --no-index (no package
registry reachable), and the module it built imports and traces.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


class TestPip(unittest.TestCase):
    def test_pip_install_offline_into_a_venv(self):
        base = os.environ.get("DPT_TEST_TMP") or tempfile.gettempdir()
        tmp = tempfile.mkdtemp(prefix="dptrace-pip-", dir=base)
        try:
            venv = pathlib.Path(tmp) / "venv"
            r = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                               text=True)
            if r.returncode != 0:
                self.skipTest("no venv module (apt-get install python3-venv): " + r.stderr)
            py = venv / "bin" / "python"
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
                       PIP_NO_CACHE_DIR="1", DPTRACE_BUILD_JOBS="2")
            r = subprocess.run([str(py), "-m", "pip", "install", "--no-index",
                                str(ROOT / "bindings" / "python")],
                               capture_output=True, text=True, env=env, timeout=850)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            r = subprocess.run([str(py), "-c", "import dptrace, json; t = dptrace.Tracer()\n"
                                "with t.span('x', attributes={'k': 1}) as s: pass\n"
                                "print(dptrace.__file__); print(json.dumps(s.attributes))"],
                               capture_output=True, text=True, env=env, cwd=tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            where, attrs = r.stdout.splitlines()
            self.assertTrue(where.startswith(str(venv)), where)  # the installed module
            self.assertEqual(attrs, '{"k": 1}')
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
