#!/usr/bin/env python3
"""collect_hostile.py - sends `dptrace collect` what a broken or hostile client could, and
checks each answer against the OTLP/HTTP specification (opentelemetry-proto,
docs/specification.md, "OTLP/HTTP"). Standard library only; loopback only.

usage: collect_hostile.py PORT MAX_BODY_BYTES        (collect runs with --queue-mb equal
                                                      to its --max-body-mb)
Also:  collect_hostile.py payload N FILE             writes a protobuf request of N spans
Exits non-zero on the first answer that breaks a rule.
"""
import gzip
import http.client
import json
import socket
import struct
import sys
import time


# ---- a tiny protobuf writer (field numbers from the OTLP trace/common/resource protos) ----
def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def ln(num, payload):
    return field(num, 2, payload)


def fixed64(num, v):
    return field(num, 1, struct.pack("<Q", v))


def kv(key, value_msg):
    return ln(1, key.encode()) + ln(2, value_msg)


def span(i, trace=b"\x11" * 16, sid=None, name="op"):
    sid = sid if sid is not None else struct.pack(">Q", i + 1)
    return (ln(1, trace) + ln(2, sid) + ln(5, name.encode()) + field(6, 0, varint(2))
            + fixed64(7, 1_700_000_000_000_000_000 + i) + fixed64(8, 1_700_000_000_000_001_000 + i)
            + ln(9, kv("http.response.status_code", field(3, 0, varint(200)))))


def request(spans, service="hostile"):
    resource = ln(1, kv("service.name", ln(1, service.encode())))
    scope_spans = ln(1, ln(1, b"test")) + b"".join(ln(2, s) for s in spans)
    return ln(1, ln(1, resource) + ln(2, scope_spans))


# ---- the checks ----------------------------------------------------------------------------
PORT = 0


def post(body, ctype="application/x-protobuf", path="/v1/traces", method="POST", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    h = {"Content-Type": ctype}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h,
              encode_chunked="Transfer-Encoding" in h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def headers_only(length):
    """Sends only the headers of a POST with this Content-Length: the server may answer
    before the body (as it should for a body it will refuse anyway)."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
              + f"Content-Length: {length}\r\n\r\n".encode())
    line = s.makefile("rb").readline()
    s.close()
    return int(line.split()[1])


def expect(what, got, want):
    if got != want:
        print(f"FAIL {what}: got {got!r}, wanted {want!r}")
        sys.exit(1)
    print(f"ok   {what}: {got!r}")


def parse_status(data):
    """google.rpc.Status: 1 code, 2 message - a real wire parse, not a substring check."""
    i, out = 0, {}
    while i < len(data):
        key, n = 0, 0
        while True:
            b = data[i]; i += 1
            key |= (b & 0x7F) << (7 * n); n += 1
            if not b & 0x80:
                break
        num, wire = key >> 3, key & 7
        v, n = 0, 0
        while True:
            b = data[i]; i += 1
            v |= (b & 0x7F) << (7 * n); n += 1
            if not b & 0x80:
                break
        if wire == 2:
            out[num] = data[i:i + v]; i += v
        else:
            out[num] = v
    return out


def main():
    global PORT
    if sys.argv[1] == "payload":
        n = int(sys.argv[2])
        with open(sys.argv[3], "wb") as f:
            f.write(request([span(i, trace=struct.pack(">QQ", 7, i // 8 + 1)) for i in range(n)]))
        return
    PORT = int(sys.argv[1])
    max_body = int(sys.argv[2])

    # Full success: 200, empty ExportTraceServiceResponse, same Content-Type (spec: "The
    # server MUST use the same Content-Type in the response as it received in the request").
    st, h, data = post(request([span(i) for i in range(3)]))
    expect("valid protobuf: status", st, 200)
    expect("valid protobuf: content type", h.get("content-type"), "application/x-protobuf")
    expect("valid protobuf: partial_success unset", data, b"")
    # "If the server receives an empty request ... the server SHOULD respond with success."
    expect("empty request", post(b"")[0], 200)
    # Partial success: one span with a 3-byte trace id is rejected, counted, 200.
    st, h, data = post(request([span(10), span(11, trace=b"abc")]))
    expect("one invalid span: status", st, 200)
    ps = parse_status(parse_status(data)[1])  # partial_success {1 rejected, 2 message}
    expect("one invalid span: rejected_spans", ps.get(1), 1)
    expect("one invalid span: error_message set", bool(ps.get(2)), True)
    st, h, data = post(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "22" * 16, "spanId": "33" * 8, "name": "ok", "startTimeUnixNano": "1",
         "endTimeUnixNano": "2"},
        {"traceId": "zz", "spanId": "33" * 8, "name": "bad"}]}]}]}), "application/json")
    expect("JSON partial success: status", st, 200)
    expect("JSON partial success: content type", h.get("content-type"), "application/json")
    expect("JSON partial success: rejectedSpans",
           json.loads(data)["partialSuccess"]["rejectedSpans"], "1")

    # Bad data: 400 with a google.rpc.Status body ("MUST respond with HTTP 400 Bad Request").
    good = request([span(i) for i in range(5)])
    for cut in (1, 7, len(good) // 2, len(good) - 1):
        st, h, data = post(good[:cut])
        expect(f"truncated at {cut}: status", st, 400)
        expect(f"truncated at {cut}: Status.message", b"malformed" in parse_status(data).get(2, b""), True)
    expect("huge length", post(ln(1, b"") [:1] + varint(1 << 60) + b"xx")[0], 400)
    expect("11-byte varint", post(b"\x08" + b"\xff" * 10 + b"\x01")[0], 400)
    expect("group wire type", post(b"\x0b\x0c")[0], 400)
    expect("field number 0", post(b"\x02\x00")[0], 400)
    expect("wrong wire type for resource_spans", post(b"\x08\x01")[0], 400)
    deep = ln(1, b"x")
    for _ in range(200):
        deep = ln(5, ln(1, deep))  # AnyValue.array_value.values...
    nested = request([span(1) + ln(9, kv("deep", deep))])
    st, h, data = post(nested)
    expect("AnyValue nested 200 deep: status", st, 400)
    expect("AnyValue nested 200 deep: message", b"too deep" in parse_status(data).get(2, b""), True)
    expect("not JSON", post(b'{"resourceSpans":[', "application/json")[0], 400)
    expect("JSON, wrong shape", post(b'{"resourceSpans":{}}', "application/json")[0], 400)
    expect("JSON nested 100000 deep", post(b"[" * 100000 + b"]" * 100000, "application/json")[0], 400)
    expect("corrupt gzip", post(b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})[0], 400)

    # Over the size limit: 413 ("If the limit is exceeded, the server MUST respond with
    # HTTP 413"), before and after decompression (a gzip bomb: 200 MB of zeros, ~200 KB).
    expect("Content-Length over the limit", headers_only(max_body + 1), 413)
    # Without a Content-Length (chunked), the limit is found while reading.
    st, h, data = post(iter([b"\x00" * (1 << 20)] * (max_body // (1 << 20) + 1)),
                       headers={"Transfer-Encoding": "chunked"})
    expect("chunked body over the limit", st, 413)
    bomb = gzip.compress(b"\x00" * (200 << 20), 9)
    print(f"     gzip bomb: {len(bomb)} bytes compressed")
    expect("gzip bomb", post(bomb, headers={"Content-Encoding": "gzip"})[0], 413)
    st, h, data = post(gzip.compress(request([span(i) for i in range(4)])),
                       headers={"Content-Encoding": "gzip"})
    expect("valid gzip body", st, 200)

    # Wrong content type, encoding, path, method.
    expect("text/plain", post(good, "text/plain")[0], 415)
    expect("no Content-Type", post(good, "")[0], 415)
    expect("Content-Encoding br", post(good, headers={"Content-Encoding": "br"})[0], 415)
    expect("/v1/metrics", post(good, path="/v1/metrics")[0], 404)
    st, h, data = post(None, method="GET")
    expect("GET", st, 405)
    expect("GET: Allow", h.get("allow"), "POST")

    # Its own queue full: 503 + Retry-After ("the server SHOULD respond with HTTP 429 Too
    # Many Requests or HTTP 503 Service Unavailable and MAY include Retry-After"). One
    # connection holds most of the receiver's memory in a body not yet complete; the next
    # body does not fit beside it.
    hold = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    part = max_body * 3 // 4
    hold.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                 + f"Content-Length: {part + 10}\r\n\r\n".encode() + b"\x00" * part)
    time.sleep(0.5)  # not a pass-by-luck sleep: the 503 below fails loudly if it was too short
    st, h, data = post(b"\x00" * part)
    expect("queue full: status", st, 503)
    expect("queue full: Retry-After", h.get("retry-after"), "1")
    hold.close()
    time.sleep(0.3)
    expect("after the holder left", post(request([span(40)]))[0], 200)


main()
