"""test_threads.py - the sync Tracer under 8 threads x 10,000 spans: every span gets the
right parent (the current span is per thread, the original design's rule), no span is lost
or double-counted, and nothing is left current afterwards.
"""
import threading
import unittest

import support  # noqa: F401
import dptrace

THREADS = 8
REQUESTS = 1000   # per thread; each request is a root and 9 nested/sibling children
PER_REQUEST = 10  # = 10,000 spans per thread


class TestThreads(unittest.TestCase):
    def test_8_threads_x_10000_spans_have_the_right_parents(self):
        t = dptrace.Tracer()
        before = dptrace.stats()["spans_ended"]
        errors = []
        barrier = threading.Barrier(THREADS)

        def work(k):
            try:
                barrier.wait()
                for i in range(REQUESTS):
                    with t.span("request", dptrace.SpanKind.SERVER, {"thread": k}) as root:
                        rid = root.context.span_id
                        if root.context.parent_span_id is not None:
                            errors.append("thread %d: root has a parent" % k)
                        with t.span("handler") as h:
                            hid = h.context.span_id
                            for j in range(4):
                                with t.span("step", attributes={"j": j}) as s:
                                    with t.span("io", dptrace.SpanKind.CLIENT) as io:
                                        pass
                                if s.context.parent_span_id != hid:
                                    errors.append("thread %d: step parent wrong" % k)
                                if io.context.parent_span_id != s.context.span_id:
                                    errors.append("thread %d: io parent wrong" % k)
                                if io.context.trace_id != root.context.trace_id:
                                    errors.append("thread %d: trace id wrong" % k)
                        if h.context.parent_span_id != rid:
                            errors.append("thread %d: handler parent wrong" % k)
                    if t.get_current_span() is not None:
                        errors.append("thread %d: a span left current" % k)
                    if i % 250 == 0 and root.attributes != {"thread": k}:
                        errors.append("thread %d: attributes wrong" % k)
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors[:5], [])
        ended = dptrace.stats()["spans_ended"] - before
        self.assertEqual(ended, THREADS * REQUESTS * PER_REQUEST)


if __name__ == "__main__":
    unittest.main()
