"""recommendations.py - the mesh demo's Python service: GET /recommendations/{sku} answers
with related products. orders calls it over HTTP with traceparent and baggage, and its spans
land in the same traces as the C services' (same file, same trace ids), through the dptrace
Python module on libdptrace.

It is an asyncio server with AsyncTracer: each request is a task whose SERVER span
continues the caller's trace; three "score" steps run concurrently as tasks of their own
(asyncio.gather) and are children of the request's span, because the current span is per
task. A model that fails would show as an exception event and ERROR status on its span
(the `async with` block records it) and the request would answer with the other models'
scores; the demo's models do not fail, so that its traces fail exactly where the C
services make them fail (one payment in ten).

Run by scripts/demo.sh:  python3 recommendations.py --port 0 --ready-file PATH
(PYTHONPATH=<build>/bindings/python, or after `pip install ./bindings/python`). SIGTERM
stops it: in-flight requests finish, then the spans are flushed and it exits.
"""
import argparse
import asyncio
import json
import os
import random
import signal
import sys

os.environ.setdefault("OTEL_SERVICE_NAME", "recommendations")  # before the first Tracer
import dptrace  # noqa: E402
from dptrace import SpanKind, StatusCode  # noqa: E402

tracer = dptrace.AsyncTracer(name="dptrace-mesh", version=dptrace.__version__)
MODELS = ("popular", "similar", "bandit")
CATALOG = ["sku-%d" % i for i in range(1, 41)]
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
served = 0


async def work_ms(lo, hi):
    await asyncio.sleep(random.uniform(lo, hi) / 1000.0)


async def score(model, sku, n):
    """One model's scores, in its own task: a child of the request's span."""
    async with tracer.span("score " + model, attributes={"app.model": model}) as span:
        # the exploring model is slower now and then
        await work_ms(1, 12 if model == "bandit" and n % 7 == 0 else 4)
        picks = random.Random(hash((model, sku))).sample(CATALOG, 5)
        span.set_attribute("app.candidates", len(picks))
        return picks


async def recommend(sku, n):
    async with tracer.span("load catalog", SpanKind.CLIENT,
                           {"db.system": "memory", "db.operation.name": "SELECT"}):
        await work_ms(1, 3)
    results = await asyncio.gather(*(score(m, sku, n) for m in MODELS), return_exceptions=True)
    candidates = []
    for model, r in zip(MODELS, results):
        if isinstance(r, Exception):
            # the model's span already has the exception event and ERROR status
            tracer.current_span().add_event("model.skipped", {"app.model": model})
        else:
            candidates += r
    async with tracer.span("rank", attributes={"app.candidates": len(candidates)}):
        await work_ms(0, 1)
        ranked = sorted(set(candidates) - {sku})[:4]
    return ranked


async def read_request(reader):
    """Request line and headers (bounded); (method, target, [(name, value)]) or None."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers, size = [], len(line)
    while True:
        h = await reader.readline()
        size += len(h)
        if size > MAX_HEADER_BYTES or len(headers) > MAX_HEADERS:
            raise ValueError("headers too large")
        if h in (b"\r\n", b"\n", b""):
            break
        name, sep, value = h.decode("latin-1").partition(":")
        if not sep:
            raise ValueError("bad header line")
        headers.append((name.strip(), value.strip()))
    return parts[0], parts[1], headers


async def respond(writer, status, body):
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (status, reason.encode(), len(data), data))
    await writer.drain()


async def handle(reader, writer):
    global served
    try:
        try:
            req = await read_request(reader)
        except (ValueError, asyncio.LimitOverrunError):
            await respond(writer, 400, {"error": "bad request"})
            return
        if req is None:
            return
        method, target, headers = req
        path = target.split("?", 1)[0]
        prefix = "/recommendations/"
        ok_route = method == "GET" and path.startswith(prefix) and "/" not in path[len(prefix):]
        route = prefix + "{sku}" if ok_route else None
        peer = writer.get_extra_info("peername") or ("", 0)
        attrs = {"http.request.method": method, "url.path": path,
                 "server.port": writer.get_extra_info("sockname")[1],
                 "network.peer.address": peer[0]}
        if route:
            attrs["http.route"] = route
        # Continue the caller's trace (traceparent, tracestate, baggage).
        incoming = tracer.extract(headers)
        name = "%s %s" % (method, route) if route else method
        async with tracer.span(name, SpanKind.SERVER, attrs, parent=incoming) as span:
            served += 1
            tenant = tracer.get_baggage("tenant.id")
            if tenant:
                span.set_attribute("tenant.id", tenant)
            if not route:
                span.set_attribute("http.response.status_code", 404)
                await respond(writer, 404, {"error": "no such route"})
                return
            sku = path[len(prefix):]
            span.set_attribute("app.sku", sku)
            ranked = await recommend(sku, served)
            span.set_attribute("http.response.status_code", 200)
            span.set_status(StatusCode.OK)
            await respond(writer, 200, {"sku": sku, "recommended": ranked})
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(args):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    inflight = set()

    def on_client(reader, writer):
        task = asyncio.create_task(handle(reader, writer))
        inflight.add(task)
        task.add_done_callback(inflight.discard)

    server = await asyncio.start_server(on_client, "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.ready_file)  # the demo script sees the whole port or nothing
    print("recommendations: listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()
    if inflight:
        await asyncio.wait(inflight, timeout=10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8084)
    p.add_argument("--ready-file")
    asyncio.run(main(p.parse_args()))
    ok = dptrace.shutdown(timeout=5)  # flushes every span
    st = dptrace.stats()
    print("recommendations: exported %d spans (%d failed, %d dropped): %s"
          % (st["spans_exported"], st["spans_export_failed"], st["spans_dropped_queue"],
             "success" if ok else "incomplete"), file=sys.stderr, flush=True)
    sys.exit(0 if ok else 1)
