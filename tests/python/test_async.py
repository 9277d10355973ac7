"""test_async.py - AsyncTracer with 10,000 interleaved asyncio tasks, each with nested
spans: every parent is right (the current span is per task, through contextvars), and
memory is flat once the tasks are done (tracemalloc for the Python heap, mallinfo2 for
the C heap, and RSS), because nothing is stored per task by the module: the task's
context goes away with the task.
"""
import asyncio
import gc
import tracemalloc
import unittest

import support
import dptrace

TASKS = 10_000


def run_round(t, errors):
    async def leaf_work(parent):
        async with t.span("leaf") as leaf:
            await asyncio.sleep(0)
        if leaf.context.parent_span_id != parent.context.span_id:
            errors.append("leaf parent")

    async def task(i, root):
        async with t.span("task", attributes={"i": i}) as ts:
            if ts.context.parent_span_id != root.context.span_id:
                errors.append("task parent")
            await asyncio.sleep(0)  # let the other tasks interleave
            async with t.span("inner") as inner:
                await asyncio.sleep(0)
                if t.current_span() is not inner:
                    errors.append("current after await")
                if i % 4 == 0:  # children in tasks of their own
                    await asyncio.gather(leaf_work(inner), asyncio.create_task(leaf_work(inner)))
                else:
                    await leaf_work(inner)
            if inner.context.parent_span_id != ts.context.span_id:
                errors.append("inner parent")
            if t.current_span() is not ts:
                errors.append("current after inner")
        return ts.context.trace_id

    async def main():
        async with t.span("round") as root:
            ids = await asyncio.gather(*(task(i, root) for i in range(TASKS)))
            if t.current_span() is not root:
                errors.append("root not current after gather")
        if t.get_current_span() is not None:
            errors.append("something left current")
        if set(ids) != {root.context.trace_id}:
            errors.append("trace ids differ")

    asyncio.run(main())


class TestAsync(unittest.TestCase):
    def test_10000_interleaved_tasks_have_the_right_parents_and_memory_stays_flat(self):
        t = dptrace.AsyncTracer()
        errors = []
        before = dptrace.stats()["spans_ended"]
        run_round(t, errors)  # warm-up: pools and caches reach their size
        self.assertEqual(errors[:5], [])
        per_round = dptrace.stats()["spans_ended"] - before
        # 1 root + per task: task, inner, leaf (+1 more leaf every 4th task)
        self.assertEqual(per_round, 1 + TASKS * 3 + TASKS // 4)
        self.assertEqual(support.live_spans(), 0)  # nothing kept for finished tasks

        # RSS and the C heap, without tracemalloc (whose own tables would grow).
        run_round(t, errors)
        gc.collect()
        rss0, heap0 = support.rss_bytes(), support.c_heap_bytes()
        for _ in range(3):
            run_round(t, errors)
        gc.collect()
        rss1, heap1 = support.rss_bytes(), support.c_heap_bytes()
        # One record kept per span would be ~1 KiB x 31,000 x 3 = 90 MiB, 100 bytes per span
        # 9 MiB. The C heap also holds asyncio's set of all tasks (Python allocates big
        # tables with malloc), whose table moves between 512 KiB and 1 MiB; RSS moves with
        # fragmentation (a few MiB), hence the looser bound.
        if not support.UNDER_SANITIZER:
            self.assertLess(rss1 - rss0, 16 << 20, "RSS grew by %d bytes" % (rss1 - rss0))
        if heap0 is not None and not support.UNDER_SANITIZER:
            self.assertLess(heap1 - heap0, 2 << 20, "C heap grew by %d" % (heap1 - heap0))

        # tracemalloc: the Python heap.
        tracemalloc.start()
        run_round(t, errors)  # traced warm-up
        gc.collect()
        snap0 = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        for _ in range(3):
            run_round(t, errors)
        gc.collect()
        peak = tracemalloc.get_traced_memory()[1]
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        self.assertEqual(errors[:5], [])
        self.assertEqual(support.live_spans(), 0)
        # Flat: 3 more rounds leave (almost) nothing behind; one object kept per task would
        # be 30,000+ blocks, megabytes. asyncio's own set of all tasks (a WeakSet whose
        # table is re-allocated between 512 KiB and 1 MiB as it fills) is left out.
        mine = [tracemalloc.Filter(False, "*/_weakrefset.py"),
                tracemalloc.Filter(False, tracemalloc.__file__)]
        grown = sum(d.size_diff for d in
                    snap1.filter_traces(mine).compare_to(snap0.filter_traces(mine), "filename"))
        base = sum(st.size for st in snap0.statistics("filename"))
        self.assertGreater(peak - base, 4 << 20)  # the rounds did allocate: this can fail
        self.assertLess(grown, 128 * 1024, "tracemalloc grew by %d bytes" % grown)

if __name__ == "__main__":
    unittest.main()
