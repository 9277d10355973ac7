#!/usr/bin/python3
"""official_suite.py - runs the official W3C Trace Context test suite against a service.

Usage: official_suite.py <checkout of w3c/trace-context> <service endpoint URL>

Nothing of the suite is copied here: its test/test.py is imported from the checkout and run
unchanged, at SPEC_LEVEL=2 / STRICT_LEVEL=2 (the strictest). The only thing this wrapper
changes is where the suite's callback server listens: on an ephemeral loopback port that
it binds itself (port 0, read back), instead of the fixed port 7777, so that parallel runs
never collide. Needs aiohttp (Debian: python3-aiohttp). Exit 0 when every test passed.
"""
import importlib.util
import os
import sys
import unittest


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    checkout, endpoint = sys.argv[1], sys.argv[2]
    test_dir = os.path.join(checkout, 'test')
    sys.path.insert(0, test_dir)
    os.environ['SERVICE_ENDPOINT'] = endpoint
    os.environ.setdefault('SPEC_LEVEL', '2')
    os.environ.setdefault('STRICT_LEVEL', '2')
    # Loaded under its own name: "test" is also a standard-library package.
    spec = importlib.util.spec_from_file_location('w3c_suite', os.path.join(test_dir, 'test.py'))
    suite = importlib.util.module_from_spec(spec)
    sys.modules['w3c_suite'] = suite  # unittest finds setUpModule through sys.modules
    spec.loader.exec_module(suite)
    from client import TestClient
    from server import TestServer

    class EphemeralTestServer(TestServer):
        def start(self):
            super().start()
            # The suite's server binds what it was given (0 here); tell the client the
            # port the kernel chose.
            suite.client.port = self.server.site._server.sockets[0].getsockname()[1]

    timeout = int(os.environ.get('HARNESS_TIMEOUT', '5'))
    suite.client = TestClient(host='127.0.0.1', port=0, timeout=timeout + 1)
    suite.server = EphemeralTestServer(host='127.0.0.1', port=0, timeout=timeout)
    tests = unittest.TestLoader().loadTestsFromModule(suite)
    result = unittest.TextTestRunner(verbosity=2).run(tests)
    bad = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print('# official W3C suite: %d/%d passed, %d skipped (SPEC_LEVEL=%s STRICT_LEVEL=%s)' % (
        result.testsRun - bad - skipped, result.testsRun, skipped,
        os.environ['SPEC_LEVEL'], os.environ['STRICT_LEVEL']))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
