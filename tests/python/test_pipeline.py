"""test_pipeline.py - the export pipeline seen from Python, each case in a child interpreter
with its own OTEL_* environment: spans queued at interpreter exit are exported (or
counted, with a hung collector, within the shutdown deadline); the GIL is released while
Python waits for an export and the export thread never needs it; samplers, propagators,
the store's bounds and OTEL_SDK_DISABLED.
"""
import json
import os
import re
import socket
import tempfile
import threading
import unittest

import support


def base_env(tmp, **kw):
    env = {"OTEL_SERVICE_NAME": "pychild", "DPTRACE_LOG_LEVEL": "error",
           "OTEL_TRACES_EXPORTER": "file", "DPTRACE_EXPORT_FILE": os.path.join(tmp, "t.jsonl")}
    env.update(kw)
    return env


class TestExit(unittest.TestCase):
    def test_spans_queued_at_exit_are_exported(self):
        # OpenTelemetry SDK, Shutdown: "SHOULD ... include the effects of ForceFlush"; the
        # module's atexit handler shuts the pipeline down before the interpreter goes.
        with tempfile.TemporaryDirectory() as tmp:
            env = base_env(tmp, OTEL_BSP_SCHEDULE_DELAY="600000", OTEL_BSP_MAX_QUEUE_SIZE="4096",
                           OTEL_BSP_MAX_EXPORT_BATCH_SIZE="4096")
            rc, out, err, _ = support.run_child("""
                import dptrace
                t = dptrace.Tracer()
                for i in range(500):
                    with t.span("parent", attributes={"i": i}):
                        with t.span("child"):
                            with t.span("leaf"):
                                pass
                print(dptrace.stats()["spans_exported"])
                """, env)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.strip(), "0")  # still queued when the script ended
            spans = support.read_spans(env["DPTRACE_EXPORT_FILE"])
            self.assertEqual(len(spans), 1500)
            self.assertTrue(all(r["service.name"] == "pychild" for r, _ in spans))
            by_id = {s["spanId"]: s for _, s in spans}
            for _, s in spans:
                if s["name"] != "parent":
                    self.assertIn(s["parentSpanId"], by_id)

    def test_default_pipeline_with_its_store_under_threads(self):
        # dptrace's own rule (never a hang of the caller): the default pipeline is a batch
        # processor plus the trace store. A batch queue that staged spans (its ring full)
        # recycled records the store still held: one thread looping over `with t.span()`
        # hung within seconds, two crashed. A small queue makes the ring fill at once.
        with tempfile.TemporaryDirectory() as tmp:
            env = base_env(tmp, OTEL_BSP_MAX_QUEUE_SIZE="64", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="64")
            rc, out, err, _ = support.run_child("""
                import threading, dptrace
                t = dptrace.Tracer()
                def work(k):
                    for i in range(20000):
                        with t.span("w", attributes={"k": k, "i": i}):
                            pass
                ths = [threading.Thread(target=work, args=(k,)) for k in range(3)]
                for th in ths: th.start()
                for th in ths: th.join()
                with t.span("final", attributes={"k": 9}) as f:
                    pass
                got = t.get_trace(f.context.trace_id)
                ok = [s.name for s in got] == ["final"] and got[0].attributes == {"k": 9}
                print(dptrace.stats()["spans_ended"], ok, dptrace.stats()["store_spans"])
                """, env, timeout=120)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.split(), ["60001", "True", "1000"])

    def test_hung_collector_at_exit_is_counted_within_the_deadline(self):
        # dptrace's own rule: shutdown returns at its deadline (5 s at exit) and counts
        # what it could not export: ended == exported + failed + dropped.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        held = []
        stop = threading.Event()

        def accept():  # accepts and never answers
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(srv.accept()[0])
                except OSError:
                    pass

        th = threading.Thread(target=accept, daemon=True)
        th.start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                env = base_env(tmp, OTEL_TRACES_EXPORTER="otlp", DPTRACE_LOG_LEVEL="info",
                               OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d"
                               % srv.getsockname()[1],
                               OTEL_BSP_SCHEDULE_DELAY="50", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="64")
                rc, out, err, secs = support.run_child("""
                    import threading, time, dptrace
                    t = dptrace.Tracer()
                    def spin():  # a daemon thread still making spans while Python exits
                        while True:
                            with t.span("daemon"):
                                pass
                    for i in range(600):
                        with t.span("queued"):
                            pass
                    time.sleep(0.3)  # the first export is now stuck in the collector
                    threading.Thread(target=spin, daemon=True).start()
                    time.sleep(0.1)
                    """, env, timeout=60)
        finally:
            stop.set()
            th.join()
            for c in held:
                c.close()
            srv.close()
        self.assertEqual(rc, 0, err)
        self.assertLess(secs, 20, "exit took %.1f s" % secs)
        m = re.search(r"shutdown: started=(\d+) sampled=\d+ ended=(\d+) exported=(\d+) "
                      r"failed=(\d+) dropped_queue=(\d+)", err)
        self.assertIsNotNone(m, err[-2000:])
        started, ended, exported, failed, dropped = map(int, m.groups())
        self.assertGreaterEqual(ended, 600)
        self.assertEqual(exported, 0)
        self.assertEqual(ended, exported + failed + dropped, err[-2000:])
        print("\n  hung collector: exit in %.1f s, %s" % (secs, m.group(0)))


class TestGil(unittest.TestCase):
    def test_gil_is_released_while_waiting_for_an_export(self):
        # The collector runs in the same interpreter: if force_flush held the GIL while the
        # export thread waits for the collector's answer, the collector could not answer and
        # the flush would time out.
        rc, out, err, _ = support.run_child("""
            import http.server, json, os, threading, time
            got = []
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    got.append((self.path, self.headers["Content-Type"], len(body)))
                    time.sleep(0.3)  # Python code runs in this thread during the export
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-protobuf")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                def log_message(self, *a):
                    pass
            srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % srv.server_port
            import dptrace
            t = dptrace.Tracer()
            for i in range(50):
                with t.span("s"):
                    pass
            ticks = [0]
            done = threading.Event()
            def tick():
                while not done.is_set():
                    ticks[0] += 1
                    time.sleep(0.001)
            threading.Thread(target=tick, daemon=True).start()
            time.sleep(0.05)
            t0 = time.monotonic(); n0 = ticks[0]
            ok = dptrace.force_flush(timeout=10)
            secs = time.monotonic() - t0; n1 = ticks[0]
            done.set()
            print(json.dumps({"ok": ok, "secs": secs, "ticks": n1 - n0, "got": got,
                              "exported": dptrace.stats()["spans_exported"]}))
            """, {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_BSP_SCHEDULE_DELAY": "600000",
                  "DPTRACE_LOG_LEVEL": "error"}, timeout=60)
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["exported"], 50)
        self.assertEqual(r["got"][0][0], "/v1/traces")
        self.assertEqual(r["got"][0][1], "application/x-protobuf")
        self.assertGreaterEqual(r["secs"], 0.25)  # the collector's delay was waited for
        self.assertLess(r["secs"], 5)
        self.assertGreater(r["ticks"], 10)  # another Python thread ran meanwhile

    def test_export_thread_runs_while_python_holds_the_gil(self):
        # list.sort() of ints holds the GIL for its whole run (no Python code is called):
        # spans ended before it are written by the export thread during the sort.
        with tempfile.TemporaryDirectory() as tmp:
            env = base_env(tmp, OTEL_BSP_SCHEDULE_DELAY="20")
            rc, out, err, _ = support.run_child("""
                import json, os, time, dptrace
                n = 3_000_000
                data = [(i * 7919) % n for i in range(n)]
                t = dptrace.Tracer()
                for i in range(100):
                    with t.span("before-sort"):
                        pass
                t0 = time.time_ns()
                data.sort()
                t1 = time.time_ns()
                path = os.environ["DPTRACE_EXPORT_FILE"]
                st = os.stat(path) if os.path.exists(path) else None
                print(json.dumps({"t0": t0, "t1": t1, "mtime": st.st_mtime_ns if st else None,
                                  "size": st.st_size if st else 0}))
                """, env, timeout=120)
            self.assertEqual(rc, 0, err)
            r = json.loads(out)
            self.assertGreater(r["t1"] - r["t0"], 200_000_000, "sort too short to tell")
            self.assertGreater(r["size"], 0)
            self.assertLess(r["mtime"], r["t1"], "the export waited for the GIL")


class TestConfiguration(unittest.TestCase):
    def test_samplers_have_their_own_pipelines_and_children_follow(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = base_env(tmp)
            rc, out, err, _ = support.run_child("""
                import dptrace
                never = dptrace.Tracer(sampler=dptrace.Sampler(0))
                always = dptrace.Tracer(sampler=dptrace.Sampler(1))
                plain = dptrace.Tracer()
                with never.span("never-root"):
                    with plain.span("child-of-unsampled"):
                        pass
                with always.span("always-root"):
                    with never.span("child-of-sampled"):
                        pass
                with plain.span("plain-root"):
                    pass
                rates = [dptrace.Tracer(sampler=dptrace.Sampler(r / 100)) for r in range(1, 14)]
                try:
                    dptrace.Tracer(sampler=dptrace.Sampler(0.99))
                    print("no limit")
                except ValueError as e:
                    print("limit")
                """, env)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.strip(), "limit")  # 1 + 15 pipelines at most
            names = sorted(s["name"] for _, s in support.read_spans(env["DPTRACE_EXPORT_FILE"]))
            # parent-based: a child follows its parent's decision whatever its tracer
            self.assertEqual(names, ["always-root", "child-of-sampled", "plain-root"])

    def test_propagators_come_from_otel_propagators(self):
        rc, out, err, _ = support.run_child("""
            import json, dptrace
            t = dptrace.Tracer()
            with t.span("x") as s:
                h = t.inject({})
            ctx = t.extract({"b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"})
            print(json.dumps({"h": h, "tid": s.context.trace_id, "sid": s.context.span_id,
                              "in": [ctx.trace_id, ctx.span_id, ctx.sampled]}))
            """, {"OTEL_PROPAGATORS": "b3multi,jaeger", "OTEL_TRACES_EXPORTER": "none"})
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        h = {k.lower(): v for k, v in r["h"].items()}
        self.assertEqual(h["x-b3-traceid"], r["tid"])
        self.assertEqual(h["x-b3-spanid"], r["sid"])
        self.assertEqual(h["x-b3-sampled"], "1")
        self.assertEqual(h["uber-trace-id"], "%s:%s:0:01" % (r["tid"], r["sid"]))
        self.assertNotIn("traceparent", h)
        self.assertEqual(r["in"], ["80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", True])

    def test_sdk_disabled_makes_spans_no_ops(self):
        # OpenTelemetry SDK configuration: OTEL_SDK_DISABLED=true disables the SDK
        rc, out, err, _ = support.run_child("""
            import json, dptrace
            t = dptrace.Tracer()
            try:
                with t.span("x", attributes={"a": 1}) as s:
                    with t.span("y") as y:
                        raise KeyError("k")
            except KeyError:
                pass
            print(json.dumps({"tid": s.context.trace_id, "attrs": s.attributes,
                              "rec": s.is_recording(), "inj": t.inject({}, s),
                              "y_parent": y.context.parent_span_id,
                              "started": dptrace.stats()["spans_started"]}))
            """, {"OTEL_SDK_DISABLED": "true"})
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"tid": None, "attrs": {}, "rec": False, "inj": {},
                                           "y_parent": None, "started": 0})

    def test_store_is_bounded_and_spans_stay_readable(self):
        rc, out, err, _ = support.run_child("""
            import json, dptrace
            t = dptrace.Tracer()
            roots = []
            for i in range(60):
                with t.span("root", attributes={"i": i}) as r:
                    for j in range(4):
                        with t.span("c"):
                            pass
                roots.append(r)
            st = dptrace.stats()
            print(json.dumps({"first": len(t.get_trace(roots[0].context.trace_id)),
                              "last": len(t.get_trace(roots[-1].context.trace_id)),
                              "attrs0": roots[0].attributes, "store": st["store_spans"],
                              "evicted": st["store_evicted_traces"]}))
            """, {"DPTRACE_STORE_MAX_SPANS": "100", "OTEL_TRACES_EXPORTER": "none"})
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertEqual(r["first"], 0)      # the oldest traces were evicted whole
        self.assertEqual(r["last"], 5)
        self.assertEqual(r["attrs0"], {"i": 0})  # the Span object still reads its data
        self.assertLessEqual(r["store"], 100)
        self.assertEqual(r["evicted"], 40)

    def test_shutdown_makes_later_spans_no_ops(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = base_env(tmp, OTEL_BSP_SCHEDULE_DELAY="600000")
            rc, out, err, _ = support.run_child("""
                import dptrace
                t = dptrace.Tracer()
                with t.span("before"):
                    pass
                print(dptrace.shutdown(timeout=5), dptrace.shutdown())
                with t.span("after") as s:
                    pass
                print(s.is_recording(), s.context.trace_id, dptrace.Tracer().start_span("x").context.trace_id)
                """, env)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.split(), ["True", "True", "False", "None", "None"])
            names = [s["name"] for _, s in support.read_spans(env["DPTRACE_EXPORT_FILE"])]
            self.assertEqual(names, ["before"])


if __name__ == "__main__":
    unittest.main()
