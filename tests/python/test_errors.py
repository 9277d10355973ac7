"""test_errors.py - bad arguments and misuse: every method answers with TypeError or
ValueError (UnicodeEncodeError is a ValueError), never a crash, never another exception;
plus a bounded fuzz loop that calls every method with random argument types. dptrace's own
rule (shared/DESIGN.md: "never crash on the caller"), applied to Python.
"""
import asyncio
import os
import random
import unittest

import support  # noqa: F401
import dptrace
from dptrace import (AsyncTracer, Sampler, SpanContext, SpanKind, SpanProcessor, StatusCode,
                     Tracer)

OK_ERRORS = (TypeError, ValueError)
TID = "0af7651916cd43dd8448eb211c80319c"


class TestBadArguments(unittest.TestCase):
    def setUp(self):
        self.t = Tracer()
        self.s = self.t.start_span("s")

    def tearDown(self):
        self.s.end()

    def bad(self, exc, fn, *args, **kw):
        with self.assertRaises(exc, msg="%s%r%r" % (getattr(fn, "__name__", fn), args, kw)):
            fn(*args, **kw)

    def test_names(self):
        for fn in (self.t.start_span, self.t.span):
            self.bad(TypeError, fn)
            self.bad(TypeError, fn, None)
            self.bad(TypeError, fn, b"bytes")
            self.bad(ValueError, fn, "nul\0inside")
            self.bad(ValueError, fn, "\ud800")  # a lone surrogate has no UTF-8
            self.bad(TypeError, fn, "x", unknown=1)
            self.bad(TypeError, fn, "x", SpanKind.SERVER, None, None, "extra")
            self.bad(TypeError, fn, "x", name="twice")

    def test_kinds(self):
        self.bad(ValueError, self.t.start_span, "x", "sideways")
        self.bad(TypeError, self.t.start_span, "x", 2)
        self.bad(TypeError, self.t.start_span, "x", StatusCode.OK)

    def test_attributes(self):
        for attrs, exc in (([("a", 1)], TypeError), ({1: "v"}, TypeError), ({"": 1}, ValueError),
                           ({"k": None}, TypeError), ({"k": {"nested": 1}}, TypeError),
                           ({"k": [1, "mixed"]}, TypeError), ({"k": [None]}, TypeError),
                           ({"k": 2**64}, ValueError), ({"k": [2**63]}, ValueError),
                           ({"k": object()}, TypeError), ({"k": b"bytes"}, TypeError),
                           ({"k": ["a\0b"]}, ValueError), ({"\udfff": 1}, ValueError)):
            self.bad(exc, self.t.start_span, "x", attributes=attrs)
            self.bad(exc, self.s.set_attributes, attrs)
        self.bad(TypeError, self.s.set_attributes, None)
        self.bad(TypeError, self.s.set_attribute, "k")
        self.bad(TypeError, self.s.set_attribute, 5, 5)
        # nothing of a refused dict was applied
        self.assertEqual(self.s.attributes, {})

    def test_events_status_times(self):
        self.bad(TypeError, self.s.add_event, None)
        self.bad(TypeError, self.s.add_event, "e", "not a dict")
        self.bad(TypeError, self.s.add_event, "e", None, "yesterday")
        self.bad(ValueError, self.s.add_event, "e", None, -5)
        self.bad(TypeError, self.s.add_event, "e", None, 1.5)
        self.bad(ValueError, self.s.set_status, "maybe")
        self.bad(TypeError, self.s.set_status, 1)
        self.bad(TypeError, self.s.set_status, StatusCode.ERROR, 42)
        self.bad(TypeError, self.s.record_exception, "not an exception")
        self.bad(TypeError, self.s.end, "now")
        self.bad(ValueError, self.s.end, 0)
        self.bad(TypeError, self.s.update_name, None)

    def test_times_past_2262_are_refused_not_wrapped(self):
        # dptrace's own rule: a time is Unix ns below 2**63 (the int form says so); a later
        # datetime (year 3000, 9999) used to wrap the uint64 ns into another century
        # (3000-01-01 became 2415-06-13) instead of being refused.
        import datetime
        utc = datetime.timezone.utc
        for when in (datetime.datetime(3000, 1, 1, tzinfo=utc), datetime.datetime(9999, 12, 31),
                     datetime.datetime(2262, 4, 12, tzinfo=utc)):
            self.bad(ValueError, self.s.add_event, "e", None, when)
            self.bad(ValueError, self.s.end, when)
        self.bad(ValueError, self.s.add_event, "e", None, 2**63)
        last = datetime.datetime(2262, 4, 11, tzinfo=utc)  # still below 2**63 ns
        self.s.add_event("late", None, last)
        self.assertEqual(self.s.events[-1]["timestamp"], last)
        self.assertFalse(self.s.ended)

    def test_tracer_methods(self):
        t = self.t
        self.bad(TypeError, t.end_span, "span")
        self.bad(TypeError, t.add_event, None, "e")
        self.bad(TypeError, t.set_status, 1, "OK")
        self.bad(TypeError, t.get_trace, None)
        self.bad(ValueError, t.get_trace, "abc")
        self.bad(ValueError, t.export_trace, "z" * 32)
        self.bad(TypeError, t.inject, "headers")
        self.bad(TypeError, t.inject, ["list"])
        self.bad(TypeError, t.inject, {}, context="ctx")
        self.bad(TypeError, t.extract, 42)
        self.bad(TypeError, t.extract, "traceparent")
        self.bad(TypeError, t.extract, [("only-one",)])
        self.bad(TypeError, t.extract, {"traceparent": 1})
        self.bad(TypeError, t.set_baggage, 1, "v")
        self.bad(ValueError, t.set_baggage, "k\0", "v")
        self.bad(TypeError, t.get_baggage, 1)
        self.bad(TypeError, t.force_flush, "soon")
        self.bad(ValueError, t.force_flush, -1)
        self.bad(ValueError, t.force_flush, float("nan"))
        self.bad(TypeError, t.start_span, "x", parent="not a span")
        self.bad(TypeError, dptrace.force_flush, [])
        self.bad(TypeError, dptrace.shutdown, "now")
        self.bad(TypeError, Sampler(0.5).should_sample, 1)
        self.bad(ValueError, Sampler(0.5).should_sample, "xyz")

    def test_context_managers_misused(self):
        with self.t.span("x") as s:
            self.bad(ValueError, s.__enter__)
        # __exit__ / __aexit__ without __enter__, and with odd arguments: ends, no crash
        u = self.t.start_span("u")
        self.assertFalse(u.__exit__(None, None, None))
        u.__exit__()
        u.__exit__(1, 2, 3, 4)
        self.assertTrue(u.ended)
        v = AsyncTracer().start_span("v")
        aw = v.__aexit__("a", "b", "c")
        with self.assertRaises(StopIteration):
            next(aw.__await__())
        self.assertTrue(v.ended)
        # an exit in another task than the enter: ValueError from the ContextVar
        at = AsyncTracer()
        w = at.start_span("w")

        async def enter():
            await w.__aenter__()

        async def leave():
            await w.__aexit__(None, None, None)

        async def main():
            await asyncio.create_task(enter())
            with self.assertRaises(ValueError):
                await asyncio.create_task(leave())

        asyncio.run(main())

    def test_constructors(self):
        self.bad(TypeError, Tracer, 1)
        self.bad(TypeError, Tracer, None, "processor")
        self.bad(TypeError, Tracer, version=3)
        self.bad(TypeError, SpanContext)
        self.bad(TypeError, SpanContext, TID, None)
        self.bad(ValueError, SpanContext, TID, "0" * 16)
        self.bad(ValueError, SpanContext, TID, "b7ad6b7169203331", parent_span_id="x")
        self.bad(ValueError, SpanContext, TID, "b7ad6b7169203331", baggage={"": "v"})
        self.bad(TypeError, SpanContext, TID, "b7ad6b7169203331", baggage={"k": 1})


class TestFuzz(unittest.TestCase):
    """Random argument types for every method; bounded (a fixed number of calls)."""

    CALLS = int(os.environ.get("DPTRACE_PY_FUZZ_CALLS", "30000"))

    def values(self, t, spans):
        big = "x" * 10000
        return [None, True, 0, 1, -1, 2**63, 2**64 + 1, -2**70, 0.5, -0.0, float("nan"),
                float("inf"), "", "a", "OK", "error", "server", "ffffffffffffffff",
                TID, "0" * 32, "\ud800", "nul\0", big, b"", b"traceparent", bytearray(b"x"),
                [], [1, 2], ["a", "b"], [1, "a"], (1.5, 2.5), [True, False], [[1]], {},
                {"k": "v"}, {"k": [1, 2]}, {1: 2}, {"": 1}, {"k": None}, {"k": big},
                {"traceparent": "00-%s-b7ad6b7169203331-01" % TID, "baggage": "a=b"},
                [("traceparent", "garbage")], object(), type, len, SpanKind.SERVER,
                StatusCode.ERROR, Sampler(0.3), SpanProcessor(), t, ValueError("v"),
                spans[0], spans[-1], spans[0].context,
                SpanContext(TID, "b7ad6b7169203331", baggage={"k": "v"})]

    def test_random_calls_raise_only_type_or_value_errors(self):
        seed = int(os.environ.get("DPTRACE_PY_FUZZ_SEED", "1717"))
        rnd = random.Random(seed)
        t, at = Tracer(), AsyncTracer()
        spans = [t.start_span("fuzz"), at.start_span("afuzz")]
        vals = self.values(t, spans)
        kwnames = ["kind", "attributes", "parent", "timestamp", "message", "context", "key",
                   "value", "timeout", "end_time", "sample_rate", "sampler", "processor",
                   "name", "version", "baggage", "sampled", "parent_span_id", "bogus"]
        targets = [Tracer, AsyncTracer, Sampler, SpanContext, SpanProcessor,
                   dptrace.force_flush, dptrace.stats]
        for obj in (t, at):
            targets += [obj.start_span, obj.span, obj.end_span, obj.add_event, obj.set_status,
                        obj.get_current_span, obj.current_span, obj.get_trace,
                        obj.export_trace, obj.inject, obj.extract, obj.set_baggage,
                        obj.get_baggage]
        for sp in spans:
            targets += [sp.set_attribute, sp.set_attributes, sp.add_event, sp.set_status,
                        sp.record_exception, sp.end, sp.update_name, sp.is_recording]
        proc = SpanProcessor()
        targets += [proc.on_start, proc.on_end, proc.get_trace, proc.export_trace,
                    Sampler(0.5).should_sample]
        unexpected = []
        for i in range(self.CALLS):
            fn = rnd.choice(targets)
            args = [rnd.choice(vals) for _ in range(rnd.randint(0, 4))]
            kw = {rnd.choice(kwnames): rnd.choice(vals) for _ in range(rnd.randint(0, 2))}
            if fn is dptrace.force_flush or getattr(fn, "__name__", "") == "force_flush":
                kw.pop("timeout", None)
                args = args[:0]
            try:
                r = fn(*args, **kw)
                if isinstance(r, dptrace.Span) and rnd.random() < 0.5:
                    r.end()
                if isinstance(r, dptrace.Span) and len(spans) < 64:
                    spans.append(r)
                    vals.append(r)
            except OK_ERRORS:
                pass
            except Exception as e:  # anything else is a finding
                unexpected.append("call %d: %s(*%r, **%r) -> %r" % (i, getattr(
                    fn, "__qualname__", fn), args, kw, e))
        for sp in spans:
            sp.end()
        self.assertEqual(unexpected[:5], [], "seed %d" % seed)
        # the module still works afterwards
        with t.span("after") as s:
            s.set_attribute("ok", True)
        self.assertEqual(s.attributes, {"ok": True})

    def test_random_with_blocks_keep_the_current_span_consistent(self):
        rnd = random.Random(99)
        t = Tracer()
        for _ in range(2000):
            depth = rnd.randint(1, 5)
            stack = []
            try:
                for d in range(depth):
                    stack.append(t.span("d%d" % d).__enter__())
                if rnd.random() < 0.3:
                    raise RuntimeError("unwind")
            except RuntimeError:
                pass
            while stack:
                s = stack.pop()
                s.__exit__(None, None, None)
            self.assertIsNone(t.get_current_span())


if __name__ == "__main__":
    unittest.main()
