"""test_api.py - every class and method of the dptrace module, one behaviour per test.

The API is the original Datapunk tracer design (issue 17); where a test checks a rule of a
specification it cites it, otherwise the behaviour is dptrace's own choice.
"""
import datetime
import email.message
import json
import re
import sys
import threading
import unittest

import support  # noqa: F401
import dptrace
from dptrace import (AsyncTracer, Sampler, Span, SpanContext, SpanKind, SpanProcessor,
                     StatusCode, Tracer)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
UTC = datetime.timezone.utc


class TestEnums(unittest.TestCase):
    def test_span_kind_members_have_lowercase_values(self):
        self.assertEqual([k.value for k in SpanKind],
                         ["internal", "server", "client", "producer", "consumer"])

    def test_status_code_members(self):
        self.assertEqual([c.name for c in StatusCode], ["UNSET", "OK", "ERROR"])

    def test_kind_accepts_member_or_its_value(self):
        t = Tracer()
        self.assertIs(t.start_span("a", SpanKind.CLIENT).kind, SpanKind.CLIENT)
        self.assertIs(t.start_span("a", "producer").kind, SpanKind.PRODUCER)
        self.assertIs(t.start_span("a").kind, SpanKind.INTERNAL)


class TestSpanContext(unittest.TestCase):
    def test_ids_are_lowercase_hex(self):
        # W3C Trace Context 3.2.2.3/3.2.2.4: trace-id 32 and parent-id 16 lowercase hex digits
        with Tracer().span("x") as s:
            c = s.context
        self.assertRegex(c.trace_id, HEX32)
        self.assertRegex(c.span_id, HEX16)
        self.assertIsNone(c.parent_span_id)
        self.assertTrue(c.sampled)
        self.assertEqual(c.baggage, {})
        self.assertFalse(c.is_remote)
        self.assertTrue(c.is_valid)

    def test_constructor_validates_ids(self):
        c = SpanContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
                        parent_span_id="00f067aa0ba902b7", baggage={"k": "v"}, sampled=False)
        self.assertEqual(c.trace_id, "0af7651916cd43dd8448eb211c80319c")
        self.assertEqual(c.parent_span_id, "00f067aa0ba902b7")
        self.assertEqual(c.baggage, {"k": "v"})
        self.assertFalse(c.sampled)
        self.assertTrue(c.is_remote)
        for bad in ("", "xyz", "0" * 31, "g" * 32):
            with self.assertRaises(ValueError):
                SpanContext(bad, "b7ad6b7169203331")
        with self.assertRaises(ValueError):  # W3C: all-zero ids are invalid
            SpanContext("0" * 32, "b7ad6b7169203331")
        with self.assertRaises(TypeError):
            SpanContext(123, "b7ad6b7169203331")
        with self.assertRaises(TypeError):
            SpanContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", baggage=[1])

    def test_equal_contexts_compare_and_hash_equal(self):
        a = SpanContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
        b = SpanContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
        c = SpanContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203332")
        self.assertEqual(a, b)
        self.assertEqual(hash(a), hash(b))
        self.assertNotEqual(a, c)
        self.assertIn("0af7651916cd43dd8448eb211c80319c", repr(a))

    def test_child_context_names_its_parent(self):
        t = Tracer()
        with t.span("p") as p:
            with t.span("c") as c:
                pass
        self.assertEqual(c.context.parent_span_id, p.context.span_id)
        self.assertEqual(c.context.trace_id, p.context.trace_id)


class TestSpan(unittest.TestCase):
    def setUp(self):
        self.t = Tracer()

    def test_data_is_readable_while_live_and_after_end(self):
        s = self.t.start_span("op", SpanKind.SERVER, {"a": 1, "b": "x", "c": [1, 2], "d": True,
                                                     "e": 1.5, "f": ["u", "v"]})
        s.set_attribute("g", 7)
        self.assertEqual(s.attributes["g"], 7)
        self.assertIsNone(s.end_time)
        self.assertFalse(s.ended)
        self.t.end_span(s)
        self.assertTrue(s.ended)
        self.assertEqual(s.name, "op")
        self.assertIs(s.kind, SpanKind.SERVER)
        self.assertEqual(s.attributes, {"a": 1, "b": "x", "c": (1, 2), "d": True, "e": 1.5,
                                        "f": ("u", "v"), "g": 7})
        self.assertIsInstance(s.start_time, datetime.datetime)
        self.assertIs(s.start_time.tzinfo, UTC)
        self.assertIs(s.end_time.tzinfo, UTC)
        self.assertLessEqual(s.start_time, s.end_time)
        self.assertLessEqual(s.start_time_ns, s.end_time_ns)
        self.assertLess(abs(s.start_time - datetime.datetime.now(UTC)),
                        datetime.timedelta(minutes=5))

    def test_setters_after_end_are_ignored(self):
        # OpenTelemetry trace API, Span: "after the Span is ended ... it MUST NOT be modified"
        s = self.t.start_span("op")
        s.end()
        s.set_attribute("late", 1)
        s.add_event("late")
        s.set_status(StatusCode.ERROR, "late")
        s.update_name("renamed")
        self.assertEqual(s.attributes, {})
        self.assertEqual(s.events, [])
        self.assertIs(s.status_code, StatusCode.UNSET)
        self.assertEqual(s.name, "op")

    def test_set_attribute_replaces_an_existing_key(self):
        # OpenTelemetry: "Setting an attribute with the same key as an existing attribute
        # SHOULD overwrite the existing attribute's value."
        s = self.t.start_span("op")
        s.set_attribute("k", 1)
        s.set_attribute("k", "two")
        s.set_attributes({"k": 3.0, "m": False})
        s.end()
        self.assertEqual(s.attributes, {"k": 3.0, "m": False})

    def test_events_have_name_timestamp_and_attributes(self):
        s = self.t.start_span("op")
        s.add_event("first")
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        s.add_event("second", {"n": 2}, timestamp=when)
        s.add_event("third", timestamp=1_700_000_000_123_456_789)
        self.t.add_event(s, "fourth", {"x": "y"})
        s.end()
        ev = s.events
        self.assertEqual([e["name"] for e in ev], ["first", "second", "third", "fourth"])
        self.assertEqual(ev[1]["attributes"], {"n": 2})
        self.assertEqual(ev[1]["timestamp"], when)
        self.assertEqual(ev[2]["timestamp"],
                         datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC))
        self.assertEqual(ev[3]["attributes"], {"x": "y"})
        for e in ev:
            self.assertIs(e["timestamp"].tzinfo, UTC)

    def test_naive_datetime_is_taken_as_utc(self):
        s = self.t.start_span("op")
        s.add_event("e", timestamp=datetime.datetime(2026, 1, 1, 0, 0, 0))
        s.end()
        self.assertEqual(s.events[0]["timestamp"], datetime.datetime(2026, 1, 1, tzinfo=UTC))

    def test_explicit_end_time(self):
        s = self.t.start_span("op")
        end = datetime.datetime.now(UTC) + datetime.timedelta(seconds=3)
        s.end(end_time=end)
        self.assertEqual(s.end_time, end)

    def test_status_ok_is_final_and_message_only_with_error(self):
        # OpenTelemetry trace API, Set Status: OK is final; Description only with Error.
        s = self.t.start_span("op")
        s.set_status(StatusCode.ERROR, "broken")
        self.assertIs(s.status_code, StatusCode.ERROR)
        self.assertEqual(s.status_message, "broken")
        s.set_status("ok")
        s.set_status(StatusCode.ERROR, "again")
        s.end()
        self.assertIs(s.status_code, StatusCode.OK)
        self.assertIsNone(s.status_message)
        u = self.t.start_span("op2")
        self.t.set_status(u, "OK", "ignored with OK")
        u.end()
        self.assertIsNone(u.status_message)

    def test_record_exception_adds_an_exception_event(self):
        # OpenTelemetry semantic conventions, exceptions: event "exception" with
        # exception.type, exception.message, exception.stacktrace
        s = self.t.start_span("op")
        try:
            raise KeyError("missing")
        except KeyError as e:
            s.record_exception(e)
        s.end()
        (ev,) = s.events
        self.assertEqual(ev["name"], "exception")
        self.assertEqual(ev["attributes"]["exception.type"], "KeyError")
        self.assertEqual(ev["attributes"]["exception.message"], "'missing'")
        self.assertIn("Traceback", ev["attributes"]["exception.stacktrace"])
        self.assertIs(s.status_code, StatusCode.UNSET)  # record_exception alone: no status

    def test_end_is_idempotent(self):
        s = self.t.start_span("op")
        s.end()
        first = s.end_time_ns
        s.end()
        self.t.end_span(s)
        self.assertEqual(s.end_time_ns, first)

    def test_update_name_and_is_recording(self):
        s = self.t.start_span("old")
        self.assertTrue(s.is_recording())
        s.update_name("new")
        s.end()
        self.assertFalse(s.is_recording())
        self.assertEqual(s.name, "new")
        self.assertIn("'new'", repr(s))

    def test_spans_are_made_by_tracers_only(self):
        with self.assertRaises(TypeError):
            Span()

    def test_dropping_an_unended_span_ends_it_flagged(self):
        # dptrace's own choice: a Span object released while live is ended (so its record
        # is recycled) and marked dptrace.ended_on_release=true.
        t = Tracer()
        s = t.start_span("forgotten")
        tid, sid = s.context.trace_id, s.context.span_id
        del s
        (got,) = [x for x in t.get_trace(tid) if x.context.span_id == sid]
        self.assertEqual(got.attributes, {"dptrace.ended_on_release": True})


class TestContextManager(unittest.TestCase):
    def test_with_makes_the_span_current_and_ends_it(self):
        t = Tracer()
        self.assertIsNone(t.get_current_span())
        with t.span("outer") as outer:
            self.assertEqual(t.get_current_span(), outer.context)
            self.assertIs(t.current_span(), outer)
            with t.span("inner") as inner:
                self.assertIs(t.current_span(), inner)
            self.assertIs(t.current_span(), outer)
        self.assertIsNone(t.get_current_span())
        self.assertIsNone(t.current_span())
        self.assertTrue(outer.ended and inner.ended)

    def test_exception_sets_error_adds_event_and_propagates(self):
        t = Tracer()
        with self.assertRaises(ZeroDivisionError):
            with t.span("fails") as s:
                1 / 0
        self.assertIs(s.status_code, StatusCode.ERROR)
        self.assertEqual(s.status_message, "ZeroDivisionError: division by zero")
        (ev,) = s.events
        self.assertEqual(ev["attributes"]["exception.type"], "ZeroDivisionError")
        self.assertIsNone(t.get_current_span())  # restored on the way out

    def test_start_span_is_not_current(self):
        t = Tracer()
        s = t.start_span("detached")
        self.assertIsNone(t.get_current_span())
        with t.span("child", parent=s) as c:
            pass
        s.end()
        self.assertEqual(c.context.parent_span_id, s.context.span_id)

    def test_entering_twice_is_refused(self):
        t = Tracer()
        with t.span("x") as s:
            with self.assertRaises(ValueError):
                s.__enter__()

    def test_current_span_is_per_thread(self):
        # The original design: the sync Tracer's current span is per thread.
        t = Tracer()
        seen = []
        with t.span("main"):
            th = threading.Thread(target=lambda: seen.append(t.get_current_span()))
            th.start()
            th.join()
            with t.span("other") as o:
                pass
        self.assertEqual(seen, [None])
        self.assertIsNotNone(o.context.parent_span_id)

    def test_child_after_parent_ended_keeps_the_parent(self):
        t = Tracer()
        p = t.start_span("p")
        p.end()
        c = t.start_span("c", parent=p)
        c.end()
        self.assertEqual(c.context.parent_span_id, p.context.span_id)
        self.assertEqual(c.context.trace_id, p.context.trace_id)


class TestSampler(unittest.TestCase):
    def test_rate_must_be_in_0_1(self):
        self.assertEqual(Sampler().sample_rate, 1.0)
        self.assertEqual(Sampler(0.25).sample_rate, 0.25)
        self.assertEqual(Sampler(sample_rate=0).sample_rate, 0.0)
        for bad in (-0.01, 1.01, float("nan"), float("inf"), 10**400):
            with self.assertRaises(ValueError):
                Sampler(bad)
        for bad in ("0.5", None, [0.5], True):
            with self.assertRaises(TypeError):
                Sampler(bad)
        self.assertIn("0.25", repr(Sampler(0.25)))

    def test_decision_depends_only_on_the_trace_id(self):
        # OpenTelemetry TraceIdRatioBased: deterministic on the trace id, so every service
        # reaches the same decision for one trace.
        s1, s2 = Sampler(0.5), Sampler(0.5)
        ids = ["%032x" % (i * 0x9E3779B97F4A7C15 % 2**128 + 1) for i in range(2000)]
        d1 = [s1.should_sample(i) for i in ids]
        self.assertEqual(d1, [s2.should_sample(i) for i in ids])
        self.assertEqual(d1, [s1.should_sample(i) for i in ids])
        self.assertTrue(800 < sum(d1) < 1200, sum(d1))
        self.assertFalse(any(Sampler(0).should_sample(i) for i in ids))
        self.assertTrue(all(Sampler(1).should_sample(i) for i in ids))
        # TraceIdRatioBased compares the id's last 8 bytes with rate * 2**64
        self.assertTrue(Sampler(0.5).should_sample("ffffffffffffffff" + "0000000000000001"))
        self.assertFalse(Sampler(0.5).should_sample("0000000000000000" + "ffffffffffffff00"))

    def test_tracer_samples_roots_by_its_sampler_and_children_follow(self):
        sampler = Sampler(0.5)
        t = Tracer(sampler=sampler)
        self.assertIs(t.sampler, sampler)
        n_sampled = 0
        for _ in range(400):
            with t.span("root") as r:
                with t.span("child") as c:
                    pass
            self.assertEqual(r.context.sampled, sampler.should_sample(r.context.trace_id))
            self.assertEqual(c.context.sampled, r.context.sampled)
            self.assertEqual(r.is_recording(), False)  # ended
            n_sampled += r.context.sampled
        self.assertTrue(120 < n_sampled < 280, n_sampled)

    def test_unsampled_span_records_nothing_but_has_ids(self):
        t = Tracer(sampler=Sampler(0))
        with t.span("dropped", attributes={"a": 1}) as s:
            self.assertFalse(s.is_recording())
            s.set_attribute("b", 2)
            s.add_event("e")
        self.assertFalse(s.context.sampled)
        self.assertRegex(s.context.span_id, HEX16)
        self.assertEqual(s.attributes, {})
        self.assertEqual(s.events, [])
        self.assertIsNone(s.start_time)
        self.assertEqual(t.get_trace(s.context.trace_id), [])


class TestProcessor(unittest.TestCase):
    def test_get_trace_returns_the_ended_spans_of_a_trace(self):
        t = Tracer()
        with t.span("root") as r:
            with t.span("a"):
                pass
            with t.span("b", attributes={"k": "v"}):
                pass
        spans = t.get_trace(r.context.trace_id)
        self.assertEqual([s.name for s in spans], ["a", "b", "root"])  # end order
        self.assertEqual(spans[1].attributes, {"k": "v"})
        self.assertTrue(all(s.ended for s in spans))
        self.assertEqual(spans[0].context.parent_span_id, r.context.span_id)
        self.assertEqual(t.processor.get_trace(r.context.trace_id)[2].name, "root")
        self.assertEqual(t.get_trace("0" * 31 + "1"), [])

    def test_store_spans_cannot_be_entered(self):
        t = Tracer()
        with t.span("root") as r:
            pass
        (s,) = t.get_trace(r.context.trace_id)
        with self.assertRaises(ValueError):
            with s:
                pass

    def test_export_trace_is_json_of_the_trace(self):
        t = Tracer()
        with t.span("root", SpanKind.SERVER, {"n": 1}) as r:
            with t.span("child"):
                pass
        doc = json.loads(t.export_trace(r.context.trace_id))
        self.assertEqual(doc["trace_id"], r.context.trace_id)
        self.assertEqual(sorted(s["name"] for s in doc["spans"]), ["child", "root"])
        self.assertEqual(t.export_trace("1" * 32), "{}")
        self.assertEqual(SpanProcessor().export_trace("1" * 32), "{}")

    def test_bad_trace_ids_are_refused(self):
        p = SpanProcessor()
        with self.assertRaises(ValueError):
            p.get_trace("nothex")
        with self.assertRaises(TypeError):
            p.export_trace(42)

    def test_subclass_hooks_are_called(self):
        class Recorder(SpanProcessor):
            def __init__(self):
                self.started, self.ended = [], []

            def on_start(self, span):
                self.started.append((span.name, span.ended))

            def on_end(self, span):
                self.ended.append((span.name, span.ended, span.attributes))

        rec = Recorder()
        t = Tracer(processor=rec)
        self.assertIs(t.processor, rec)
        with t.span("a", attributes={"x": 1}):
            with t.span("b"):
                pass
        self.assertEqual(rec.started, [("a", False), ("b", False)])
        self.assertEqual(rec.ended, [("b", True, {}), ("a", True, {"x": 1})])
        with t.span("c") as c:
            pass
        # the default store still keeps the spans of a subclass's tracer
        self.assertEqual(len(t.get_trace(c.context.trace_id)), 1)

    def test_only_overridden_hooks_are_called(self):
        calls = []

        class EndOnly(SpanProcessor):
            def on_end(self, span):
                calls.append(span.name)

        t = Tracer(processor=EndOnly())
        with t.span("x"):
            pass
        self.assertEqual(calls, ["x"])

    def test_hooks_are_looked_up_on_the_class_only(self):
        # dptrace's own choice: whether to call into Python is decided from the class when
        # the tracer is made; a processor whose class overrides nothing is never called,
        # which an instance attribute shows (a call by name would find it).
        calls = []
        plain = SpanProcessor.__new__(type("Plain", (SpanProcessor,), {}))
        plain.on_start = lambda span: calls.append("start")
        plain.on_end = lambda span: calls.append("end")
        t = Tracer(processor=plain)
        with t.span("x"):
            pass
        self.assertEqual(calls, [])

    def test_hook_errors_do_not_break_the_traced_code(self):
        class Broken(SpanProcessor):
            def on_end(self, span):
                raise RuntimeError("hook failed")

        seen = []
        old = sys.unraisablehook
        sys.unraisablehook = lambda u: seen.append(u.exc_type)
        try:
            t = Tracer(processor=Broken())
            with t.span("x") as s:
                pass
        finally:
            sys.unraisablehook = old
        self.assertTrue(s.ended)
        self.assertEqual(seen, [RuntimeError])

    def test_unsampled_spans_do_not_reach_hooks(self):
        # OpenTelemetry SDK, SpanProcessor: OnStart/OnEnd are called for recording spans.
        calls = []

        class Count(SpanProcessor):
            def on_start(self, span):
                calls.append(span.name)

        t = Tracer(sampler=Sampler(0), processor=Count())
        with t.span("x"):
            pass
        self.assertEqual(calls, [])


class TestTracer(unittest.TestCase):
    def test_constructor_checks_its_arguments(self):
        with self.assertRaises(TypeError):
            Tracer(sampler=0.5)
        with self.assertRaises(TypeError):
            Tracer(processor=object())
        with self.assertRaises(TypeError):
            Tracer(name=1)
        t = Tracer(name="orders.db", version="1.2")
        self.assertEqual(t.name, "orders.db")
        self.assertIsInstance(t.processor, SpanProcessor)
        self.assertIsNone(t.sampler)

    def test_force_flush_and_stats(self):
        t = Tracer()
        with t.span("x"):
            pass
        self.assertTrue(t.force_flush())
        self.assertTrue(dptrace.force_flush(timeout=1))
        st = dptrace.stats()
        self.assertGreaterEqual(st["spans_ended"], 1)
        self.assertGreaterEqual(st["store_spans"], 1)
        self.assertEqual(st["spans_dropped_queue"], 0)

    def test_add_event_and_set_status_need_a_span(self):
        t = Tracer()
        with self.assertRaises(TypeError):
            t.add_event("not a span", "e")
        with self.assertRaises(TypeError):
            t.set_status(None, StatusCode.OK)
        with self.assertRaises(TypeError):
            t.end_span(42)


class TestPropagation(unittest.TestCase):
    def test_inject_writes_traceparent_and_baggage(self):
        # W3C Trace Context 3.2: traceparent = version "-" trace-id "-" parent-id "-" flags
        t = Tracer()
        with t.span("client", SpanKind.CLIENT) as s:
            t.set_baggage("tenant.id", "acme")
            h = t.inject({})
        self.assertEqual(h["traceparent"],
                         "00-%s-%s-%s" % (s.context.trace_id, s.context.span_id, "03"))
        self.assertEqual(h["baggage"], "tenant.id=acme")  # W3C Baggage: key=value

    def test_inject_of_a_given_context(self):
        t = Tracer()
        s = t.start_span("x")
        h = {"existing": "kept"}
        self.assertIs(t.inject(h, context=s.context), h)
        self.assertTrue(h["traceparent"].startswith("00-" + s.context.trace_id))
        self.assertEqual(h["existing"], "kept")
        s.end()
        self.assertEqual(t.inject({}), {})  # nothing current: nothing written

    def test_extract_continues_the_remote_trace(self):
        t = Tracer()
        ctx = t.extract({"TraceParent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                         "baggage": "user=alice,plan=gold"})
        self.assertTrue(ctx.is_remote)
        self.assertEqual(ctx.trace_id, "0af7651916cd43dd8448eb211c80319c")
        self.assertEqual(ctx.span_id, "b7ad6b7169203331")
        self.assertEqual(ctx.baggage, {"user": "alice", "plan": "gold"})
        with t.span("server", SpanKind.SERVER, parent=ctx) as s:
            self.assertEqual(t.get_baggage("user"), "alice")
            with t.span("inner") as inner:
                self.assertEqual(t.get_baggage(), {"user": "alice", "plan": "gold"})
        self.assertEqual(s.context.trace_id, ctx.trace_id)
        self.assertEqual(s.context.parent_span_id, "b7ad6b7169203331")
        self.assertEqual(inner.context.parent_span_id, s.context.span_id)

    def test_extract_reads_pairs_and_http_server_headers(self):
        t = Tracer()
        tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        self.assertEqual(t.extract([("traceparent", tp)]).span_id, "b7ad6b7169203331")
        m = email.message.Message()
        m["Traceparent"] = tp
        self.assertEqual(t.extract(m).span_id, "b7ad6b7169203331")
        # W3C test suite (test_traceparent_duplicated): a repeated traceparent is invalid
        m["traceparent"] = tp
        self.assertIsNone(t.extract(m))

    def test_extract_of_nothing_or_garbage_is_none(self):
        t = Tracer()
        self.assertIsNone(t.extract({}))
        self.assertIsNone(t.extract({"traceparent": "garbage"}))
        # W3C Trace Context 3.2.2.3: an all-zero trace-id is invalid
        self.assertIsNone(t.extract({"traceparent": "00-" + "0" * 32 + "-b7ad6b7169203331-01"}))
        only_bag = t.extract({"baggage": "k=v"})
        self.assertIsNone(only_bag.trace_id)
        self.assertEqual(only_bag.baggage, {"k": "v"})

    def test_baggage_is_scoped_to_the_enclosing_span(self):
        t = Tracer()
        with t.span("outer") as outer:
            with t.span("inner"):
                t.set_baggage("k", "inner")
                self.assertEqual(t.get_baggage("k"), "inner")
                self.assertEqual(t.current_span().name, "inner")  # still found after set_baggage
                with t.span("child") as child:
                    self.assertEqual(t.get_baggage("k"), "inner")
                self.assertEqual(child.context.baggage, {"k": "inner"})
                t.set_baggage("k", None)
                self.assertIsNone(t.get_baggage("k"))
            self.assertIsNone(t.get_baggage("k"))
            self.assertIs(t.current_span(), outer)

    def test_set_baggage_refuses_bad_keys(self):
        t = Tracer()
        with self.assertRaises(ValueError):
            t.set_baggage("", "v")
        with t.span("x"):
            with self.assertRaises(TypeError):
                t.set_baggage("k", 1)
            t.set_baggage("absent", None)  # removing what is not there is fine
        # dptrace's own choice: baggage lives in a span's scope; outside of one it would
        # stay with the thread and leak into the next request
        with self.assertRaises(ValueError):
            t.set_baggage("k", "v")


class TestAsyncTracer(unittest.TestCase):
    def test_async_with_and_task_children(self):
        import asyncio
        t = AsyncTracer()
        self.assertIsInstance(t, Tracer)

        async def child(name):
            async with t.span(name) as c:
                await asyncio.sleep(0)
            return c

        async def main():
            async with t.span("root") as root:
                a, b = await asyncio.gather(child("a"), child("b"))
                c = await asyncio.create_task(child("c"))
                with t.span("sync-inside") as d:
                    pass
                self.assertIs(t.current_span(), root)
            self.assertIsNone(t.get_current_span())
            return root, [a, b, c, d]

        root, kids = asyncio.run(main())
        for k in kids:
            self.assertEqual(k.context.parent_span_id, root.context.span_id)

    def test_without_a_task_span_the_threads_span_is_the_parent(self):
        # dptrace's own choice: AsyncTracer falls back to the thread's (Tracer) span
        sync, at = Tracer(), AsyncTracer()
        with sync.span("sync") as outer:
            inner = at.start_span("async-side")
            inner.end()
        self.assertEqual(inner.context.parent_span_id, outer.context.span_id)

    def test_cancellation_is_recorded_and_propagates(self):
        import asyncio
        t = AsyncTracer()
        box = []

        async def victim():
            async with t.span("victim") as s:
                box.append(s)
                await asyncio.sleep(10)

        async def main():
            task = asyncio.create_task(victim())
            await asyncio.sleep(0)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        (s,) = box
        self.assertTrue(s.ended)
        self.assertIs(s.status_code, StatusCode.ERROR)
        self.assertEqual(s.events[0]["attributes"]["exception.type"], "CancelledError")


if __name__ == "__main__":
    unittest.main()
