// server.js - a scriptable OTLP/gRPC test collector for dptrace's gRPC exporter tests:
// a real gRPC server (@grpc/grpc-js) serving opentelemetry.proto.collector.trace.v1.
// TraceService/Export, decoding every request with the OpenTelemetry JavaScript protobuf
// definitions (@opentelemetry/otlp-transformer's generated root). Plain h2c on 127.0.0.1,
// an ephemeral port, or TLS (see credentials() below).
//
//   node server.js [SCRIPT]      SCRIPT: comma list of answers for the first requests, then
//                                "ok" for the rest; each is one of
//     ok                         OK, empty ExportTraceServiceResponse
//     partial:N:MSG              OK with partial_success {rejected_spans N, error_message MSG}
//     code:C[:DELAY_MS]          status C (e.g. 14 UNAVAILABLE), with a google.rpc.RetryInfo
//                                of DELAY_MS in grpc-status-details-bin when given
//     silent                     never answers
//     delay:MS                   OK after MS milliseconds
//     default=ANSWER             (as the last item) the answer after the script, not "ok"
//
// Prints "PORT <n>" once listening. Reads commands on stdin, one per line:
//   stats  -> one JSON line {requests, spans_received, spans_accepted, user_agent,
//             encodings, content_types, methods}
//   quit   -> exits (also when stdin closes)
'use strict';
const grpc = require('@grpc/grpc-js');
const readline = require('readline');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');

const v1 = root.opentelemetry.proto.collector.trace.v1;
const Request = v1.ExportTraceServiceRequest;
const Response = v1.ExportTraceServiceResponse;

const items = (process.argv[2] || '').split(',').filter((s) => s.length > 0);
let dflt = 'ok';
if (items.length && items[items.length - 1].startsWith('default=')) dflt = items.pop().slice(8);
const script = items;

const stats = {
  requests: 0,
  spans_received: 0,
  spans_accepted: 0,
  user_agent: '',
  encodings: {},
  content_types: {},
  decode_errors: 0,
};
const held = []; // silent calls, kept so they are never answered

function countSpans(req) {
  let n = 0;
  for (const rs of req.resourceSpans || [])
    for (const ss of rs.scopeSpans || []) n += (ss.spans || []).length;
  return n;
}

// Minimal protobuf writer for google.rpc.Status { code=1, message=2, details=3 (Any) } with
// one google.rpc.RetryInfo { retry_delay=1 (Duration { seconds=1, nanos=2 }) }.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
const field = (num, buf) => Buffer.concat([varint((num << 3) | 2), varint(buf.length), buf]);
const vfield = (num, n) => Buffer.concat([varint(num << 3), varint(n)]);
function statusWithRetryInfo(code, message, delayMs) {
  const duration = Buffer.concat([
    vfield(1, Math.floor(delayMs / 1000)),
    vfield(2, (delayMs % 1000) * 1000000),
  ]);
  const retryInfo = field(1, duration);
  const any = Buffer.concat([
    field(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')),
    field(2, retryInfo),
  ]);
  return Buffer.concat([vfield(1, code), field(2, Buffer.from(message)), field(3, any)]);
}

const service = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: (m) => Buffer.from(Request.encode(m).finish()),
    requestDeserialize: (b) => {
      try {
        return Request.decode(b);
      } catch (e) {
        stats.decode_errors++;
        return { resourceSpans: [] };
      }
    },
    responseSerialize: (m) => Buffer.from(Response.encode(m).finish()),
    responseDeserialize: (b) => Response.decode(b),
  },
};

function exportCall(call, callback) {
  stats.requests++;
  const n = countSpans(call.request);
  stats.spans_received += n;
  const md = call.metadata.getMap();
  stats.user_agent = String(md['user-agent'] || '');
  const enc = String(md['grpc-encoding'] || 'identity');
  stats.encodings[enc] = (stats.encodings[enc] || 0) + 1;
  const answer = script.length ? script.shift() : dflt;
  const parts = answer.split(':');
  if (parts[0] === 'silent') {
    held.push(callback);
    return;
  }
  if (parts[0] === 'delay') {
    setTimeout(() => {
      stats.spans_accepted += n;
      callback(null, Response.create({}));
    }, Number(parts[1]));
    return;
  }
  if (parts[0] === 'partial') {
    stats.spans_accepted += n;
    callback(null, Response.create({
      partialSuccess: { rejectedSpans: Number(parts[1]), errorMessage: parts.slice(2).join(':') },
    }));
    return;
  }
  if (parts[0] === 'code') {
    const code = Number(parts[1]);
    const meta = new grpc.Metadata();
    if (parts.length > 2)
      meta.set('grpc-status-details-bin', statusWithRetryInfo(code, 'try later', Number(parts[2])));
    callback({ code, details: `scripted status ${code}`, metadata: meta });
    return;
  }
  stats.spans_accepted += n;
  callback(null, Response.create({}));
}

const server = new grpc.Server();
server.addService(service, { Export: exportCall });
// TLS when GRPC_TLS_CERT and GRPC_TLS_KEY name PEM files (the server's certificate chain
// and key); with GRPC_TLS_CLIENT_CA as well, a client certificate signed by that CA is
// required (mutual TLS).
function credentials() {
  const fs = require('fs');
  const cert = process.env.GRPC_TLS_CERT, key = process.env.GRPC_TLS_KEY;
  if (!cert || !key) return grpc.ServerCredentials.createInsecure();
  const ca = process.env.GRPC_TLS_CLIENT_CA;
  return grpc.ServerCredentials.createSsl(
    ca ? fs.readFileSync(ca) : null,
    [{ cert_chain: fs.readFileSync(cert), private_key: fs.readFileSync(key) }],
    !!ca);
}

server.bindAsync('127.0.0.1:0', credentials(), (err, port) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  process.stdout.write(`PORT ${port}\n`);
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'stats') process.stdout.write(JSON.stringify(stats) + '\n');
  else if (cmd === 'quit') process.exit(0);
});
rl.on('close', () => process.exit(0));
