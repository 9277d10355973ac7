"""test_mesh.py - the mesh demo with its Python service: scripts/demo.sh runs gateway ->
orders -> (inventory, payments, recommendations.py), with nginx in front when it is
built; the Python service's spans must be in the same traces as the C services' (one
trace id from the edge down to the Python service's innermost span, each parent the span
that called it) and carry the gateway's baggage. W3C Trace Context: the callee continues the caller's trace-id with the caller's
span as parent.
"""
import collections
import os
import pathlib
import subprocess
import tempfile
import unittest

import support

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
REQUESTS = 20


def attr(span, key):
    for a in span.get("attributes", []):
        if a["key"] == key:
            return list(a["value"].values())[0]
    return None


class TestMesh(unittest.TestCase):
    def test_python_service_spans_are_in_the_callers_traces(self):
        build = os.environ.get("DPT_BUILD_DIR")
        if not build or not (pathlib.Path(build) / "examples" / "mesh" / "orders").exists():
            self.skipTest("the mesh demo is not built")
        with tempfile.TemporaryDirectory(dir=os.environ.get("DPT_TEST_TMP")) as out:
            os.chmod(out, 0o755)  # nginx's workers (another user) write the trace file too
            env = dict(os.environ, BUILD=build, OUT=out, REQUESTS=str(REQUESTS),
                       CONCURRENCY="4", PYTHON=os.environ.get("DPT_PYTHON", "/usr/bin/python3"))
            for k in ("OTEL_TRACES_EXPORTER", "PYTHONPATH"):
                env.pop(k, None)
            p = subprocess.run(["sh", str(ROOT / "scripts" / "demo.sh")], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
            self.assertRegex(p.stdout, r"recommendations: exported \d+ spans \(0 failed, "
                                       r"0 dropped\): success")
            spans = support.read_spans(os.path.join(out, "traces.jsonl"))
            edge_log = ""
            if os.path.exists(os.path.join(out, "edge.log")):
                edge_log = open(os.path.join(out, "edge.log")).read()[-3000:]

        by_id = {}
        children = collections.defaultdict(list)
        for res, s in spans:
            s["service"] = res.get("service.name")
            by_id[(s["traceId"], s["spanId"])] = s
            children[(s["traceId"], s.get("parentSpanId", ""))].append(s)

        def kids(s, service, name):
            return [c for c in children[(s["traceId"], s["spanId"])]
                    if c["service"] == service and c["name"] == name]

        reco_servers = [s for _, s in spans if s["service"] == "recommendations"
                        and s["name"] == "GET /recommendations/{sku}"]
        self.assertGreaterEqual(len(reco_servers), REQUESTS * 9 // 10 - 2)
        for rs in reco_servers:
            self.assertEqual(rs["kind"], 2)  # SERVER
            # up the chain: orders' CLIENT span, orders' SERVER span, gateway's CLIENT and
            # SERVER spans, all in the one trace
            oc = by_id[(rs["traceId"], rs["parentSpanId"])]
            self.assertEqual((oc["service"], oc["kind"], oc["name"]),
                             ("orders", 3, "GET /recommendations/{sku}"))
            os_ = by_id[(rs["traceId"], oc["parentSpanId"])]
            self.assertEqual((os_["service"], os_["name"]), ("orders", "POST /orders"))
            gc = by_id[(rs["traceId"], os_["parentSpanId"])]
            gs = by_id[(rs["traceId"], gc["parentSpanId"])]
            self.assertEqual((gs["service"], gs["name"]), ("gateway", "GET /checkout"))
            # and on to the trace's root (the gateway, or nginx in front of it when the
            # demo runs the edge): every parent is in the same trace
            top = gs
            while top.get("parentSpanId"):
                key = (rs["traceId"], top["parentSpanId"])
                self.assertTrue(key in by_id, "parent of %s/%s missing; services %s\n%s" % (
                    top["service"], top["name"], sorted({x["service"] for x in by_id.values()}),
                    edge_log))
                top = by_id[key]
            # down: the Python service's own spans, children of its SERVER span, also the
            # ones made in tasks of their own (asyncio.gather)
            for name in ("load catalog", "score popular", "score similar", "score bandit",
                         "rank"):
                self.assertEqual(len(kids(rs, "recommendations", name)), 1, name)
            # baggage set by the gateway arrives through orders
            self.assertEqual(attr(rs, "tenant.id"), attr(gs, "tenant.id"))
            self.assertTrue(attr(rs, "tenant.id"))


if __name__ == "__main__":
    unittest.main()
