// run.js - differential test of dptrace's propagators against the OpenTelemetry JavaScript
// ones. Every corpus case (corpus.js) is extracted and re-injected by both sides; the
// injected headers must be equal, except for the mutation kinds listed in DELIBERATE, each
// of which docs/propagation.md explains with the rule behind it.
//
// Usage: node run.js <path to prop_driver> [--verbose]
// Exit: 0 agreement (up to the deliberate differences), 1 otherwise.
'use strict';

const { spawnSync } = require('child_process');
const api = require('@opentelemetry/api');
const { W3CTraceContextPropagator, W3CBaggagePropagator } = require('@opentelemetry/core');
const { B3Propagator, B3InjectEncoding } = require('@opentelemetry/propagator-b3');
const { JaegerPropagator } = require('@opentelemetry/propagator-jaeger');
const { OTTracePropagator } = require('@opentelemetry/propagator-ot-trace');
const { gen } = require('./corpus.js');

// Mutation kinds on which the two sides may differ, with the reason (short form; the full
// rule is in docs/propagation.md, "Deliberate differences").
const DELIBERATE = {
  'tracecontext/unknown-flags': 'W3C: unknown trace-flags bits MUST be set to zero when sending',
  'tracecontext/ows-multi': 'RFC 9110 OWS is any run of SP/HTAB; OTel-JS allows one whitespace char',
  'tracecontext/duplicate-traceparent': 'W3C test suite: repeated traceparent starts a new trace',
  'tracecontext/tracestate-invalid-member': 'W3C (and its test suite): a tracestate that cannot be parsed is discarded whole; OTel-JS drops the member',
  'tracecontext/tracestate-current-key-grammar': 'W3C key = ( lcalpha / DIGIT ) 0*255 ( keychar ), "@" a keychar; OTel-JS 2.0 still applies the older tenant@system rule and drops these members',
  'tracecontext/tracestate-too-many': 'W3C strict: more than 32 members discard the whole tracestate',
  'tracecontext/tracestate-long': 'W3C: truncate an over-long tracestate (OTel-JS drops it whole)',
  'baggage/properties-ows': 'properties kept verbatim but trimmed of OWS',
  'baggage/key-not-token': 'W3C Baggage: key is an RFC 9110 token, never percent-decoded',
  'baggage/value-not-octets': 'W3C Baggage: value is baggage-octets only; others drop the member',
  'baggage/bad-percent': 'W3C Baggage: a bad escape drops that member (OTel-JS throws)',
  'baggage/bad-utf8': 'W3C Baggage: undecodable UTF-8 becomes U+FFFD (OTel-JS throws)',
  'baggage/member-without-key': 'W3C Baggage: a key is a token of at least one character (OTel-JS keeps " =v" with an empty key)',
  'baggage/too-many-entries': 'limits: at most 180 entries are read and sent',
  'baggage/oversize': 'limits: 8192 bytes, whole entries dropped greedily (OTel-JS also drops > 4096-byte pairs)',
  'b3/multi-debug': 'B3: debug is "d" in the single header; OTel-JS keeps X-B3-Flags\' "1" and writes it as "-1" (debug lost)',
  'b3multi/single-debug': 'B3: debug is X-B3-Flags: 1 in the multi form; OTel-JS keeps "d", which its multi injector does not know, and sends X-B3-Sampled: 1 (debug lost)',
  'b3/single-garbage-around': 'B3 grammar is matched whole (OTel-JS regex is unanchored)',
  'b3multi/single-garbage-around': 'B3 grammar is matched whole (OTel-JS regex is unanchored)',
  'b3/single-malformed': 'B3 grammar is matched whole (OTel-JS regex is unanchored)',
  'b3multi/single-malformed': 'B3 grammar is matched whole (OTel-JS regex is unanchored)',
  'b3/multi-malformed': 'B3: trace ids are 16 or 32 lower-hex digits (OTel-JS pads any length)',
  'b3multi/multi-malformed': 'B3: trace ids are 16 or 32 lower-hex digits (OTel-JS pads any length)',
  'b3/single-wrong-length': 'B3 grammar is matched whole (OTel-JS regex is unanchored)',
  'b3multi/single-wrong-length': 'B3 grammar is matched whole (OTel-JS regex is unanchored)',
  'b3/multi-short-id': 'B3: trace ids are 16 or 32 lower-hex digits',
  'b3multi/multi-short-id': 'B3: trace ids are 16 or 32 lower-hex digits',
  'b3/multi-uppercase': 'B3: ids are lower-hex',
  'b3multi/multi-uppercase': 'B3: ids are lower-hex',
  'b3/multi-whitespace': 'RFC 9110: OWS around a field value is not part of it',
  'b3multi/multi-whitespace': 'RFC 9110: OWS around a field value is not part of it',
  'jaeger/debug-flag': 'Jaeger: the debug bit implies sampled',
  'jaeger/not-hex': 'Jaeger: ids and flags are hex; OTel-JS does not check',
  'jaeger/zero-ids': 'all-zero ids are invalid (OTel-JS sends them on)',
  'jaeger/uppercase': 'ids are written back in lowercase',
  'jaeger/too-long-ids': 'Jaeger: ids are at most 32 / 16 hex digits',
  'jaeger/bad-percent': 'a bad escape drops that baggage item (OTel-JS throws)',
  'jaeger/jaeger-baggage-header': 'Jaeger clients read jaeger-baggage (jaeger-client-go); OTel-JS ignores it',
  'ottrace/sampled-bit': 'OTel-Go writes ot-tracer-sampled as 1/0 and reads both; OTel-JS reads only "true"',
  'ottrace/sampled-other': 'OTel-Go: true/false/1/0 case-insensitively, anything else rejects the context; OTel-JS: only "true" samples',
  'ottrace/short-ids': 'OpenTracing basictracer writes ids without leading zeros (FormatInt(id, 16)); OTel-JS needs 16 or 32 digits',
  'ottrace/uppercase': 'ids are written back in lowercase (OTel-JS echoes them as received)',
  'ottrace/baggage-whitespace': 'RFC 9110: OWS around a field value is not part of it',
};

const setter = { set: (c, k, v) => { c[k] = v; } };
const getter = {
  keys: (c) => Object.keys(c),
  get: (c, k) => { const v = c[k]; return v === undefined ? undefined : v.length === 1 ? v[0] : v; },
};

const jsProps = {
  tracecontext: new W3CTraceContextPropagator(),
  baggage: new W3CBaggagePropagator(),
  b3: new B3Propagator(),
  b3multi: new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
  jaeger: new JaegerPropagator(),
  ottrace: new OTTracePropagator(),
};

// What OpenTelemetry JS injects after extracting the case, as sorted name=value strings.
function jsSide(c) {
  const carrier = {};
  for (const [k, v] of c.headers) (carrier[k.toLowerCase()] ||= []).push(v); // node lowercases names
  const p = jsProps[c.prop];
  try {
    const ctx = p.extract(api.ROOT_CONTEXT, carrier, getter);
    const out = {};
    p.inject(ctx, out, setter);
    return Object.keys(out).sort().map((k) => `${k}=${Buffer.from(String(out[k]), 'utf8').toString('hex')}`).join('\t');
  } catch (e) {
    return `throws ${e.name}`;
  }
}

// OTel-JS collects extracted baggage in a plain object, and JavaScript orders integer-like
// property names ("0", "7") first. When the two baggage headers hold the same members in
// another order and such a key is present, that is the explanation.
function integerKeyOrder(a, b) {
  const bag = (s) => s.split('\t').filter((x) => x.startsWith('baggage=')).map((x) => Buffer.from(x.slice(8), 'hex').toString('utf8'))[0];
  const ba = bag(a), bb = bag(b);
  if (ba === undefined || bb === undefined) return false;
  const ma = ba.split(',').sort().join(','), mb = bb.split(',').sort().join(',');
  const rest = (s) => s.split('\t').filter((x) => !x.startsWith('baggage=')).join('\t');
  return ma === mb && rest(a) === rest(b) && /(^|,)\d+=/.test(bb);
}
const INTEGER_KEY_RULE = 'baggage/(any): same members; OTel-JS puts integer-like keys first (JS object order)';

// dptrace redacts values under sensitive keys (docs/security.md: a random key such as
// "HuSfpwDOLR" contains "pwd"); OTel-JS has no redaction. The outputs then differ only in
// those values, which dptrace sends as the marker.
const MARKERS = ['[REDACTED]', '%5BREDACTED%5D'];
function redactedOnly(a, b) {
  const hdrs = (s) => new Map(s.split('\t').filter(Boolean).map((x) => { const [n, h] = x.split('='); return [n, h === undefined ? undefined : Buffer.from(h, 'hex').toString('utf8')]; }));
  const ha = hdrs(a), hb = hdrs(b);
  if (ha.size !== hb.size) return false;
  let redacted = false;
  for (const [n, va] of ha) {
    const vb = hb.get(n);
    if (va === vb) continue;
    if (vb === undefined || va === undefined) return false;
    if (n === 'baggage') {
      const ma = va.split(','), mb = vb.split(',');
      if (ma.length !== mb.length) return false;
      for (let i = 0; i < ma.length; i++) {
        if (ma[i] === mb[i]) continue;
        const [ka, ...ra] = ma[i].split('='), [kb] = mb[i].split('=');
        if (ka !== kb || !MARKERS.includes(ra.join('=').split(';')[0])) return false;
        redacted = true;
      }
    } else if ((n.startsWith('uberctx-') || n.startsWith('ot-baggage-')) && MARKERS.includes(va)) {
      redacted = true;
    } else {
      return false;
    }
  }
  return redacted;
}
const REDACTION_RULE = 'values under sensitive keys are redacted (docs/security.md); OTel-JS does not redact';

function main() {
  const driver = process.argv[2];
  const verbose = process.argv.includes('--verbose');
  const cases = gen();
  const input = cases.map((c) => [c.id, c.prop, ...c.headers.flatMap(([k, v]) => [k.toLowerCase(), 'x' + Buffer.from(v, 'utf8').toString('hex')])].join('\t')).join('\n') + '\n';
  const res = spawnSync(driver, [], { input, maxBuffer: 1 << 30 });
  if (res.status !== 0) {
    console.error(`driver failed: status ${res.status} ${res.error || ''} ${res.stderr}`);
    process.exit(1);
  }
  const ours = new Map();
  for (const line of res.stdout.toString().split('\n')) {
    if (!line) continue;
    const t = line.split('\t');
    ours.set(Number(t[0]), t[1] === 'ok' ? t.slice(2).join('\t') : t[1]);
  }
  const byKind = new Map();
  let unexplained = 0, differ = 0;
  for (const c of cases) {
    const key = `${c.prop}/${c.kind}`;
    const k = byKind.get(key) || { n: 0, differ: 0 };
    byKind.set(key, k);
    k.n++;
    const a = ours.get(c.id), b = jsSide(c);
    if (a === undefined) { unexplained++; console.log(`case ${c.id} (${key}): no answer from the driver`); continue; }
    if (a === b) continue;
    k.differ++;
    differ++;
    if (integerKeyOrder(a, b)) { k.integerOrder = (k.integerOrder || 0) + 1; continue; }
    if (redactedOnly(a, b)) { k.redacted = (k.redacted || 0) + 1; continue; }
    if (!DELIBERATE[key]) {
      unexplained++;
      if (unexplained <= 30 || verbose) {
        const show = (s) => s.split('\t').map((x) => { const [n, h] = x.split('='); return h === undefined ? x : `${n}: ${JSON.stringify(Buffer.from(h, 'hex').toString('utf8'))}`; }).join(' | ');
        console.log(`case ${c.id} (${key}) differs\n  in:      ${JSON.stringify(c.headers)}\n  dptrace: ${show(a)}\n  otel-js: ${show(b)}`);
      }
    }
  }
  console.log(`# ${cases.length} cases, ${cases.length - differ} identical, ${differ} different (${differ - unexplained} deliberate, ${unexplained} unexplained)`);
  for (const [key, k] of [...byKind].sort()) {
    const why = (k.integerOrder ? `  (${k.integerOrder}: ${INTEGER_KEY_RULE})` : '') + (k.redacted ? `  (${k.redacted}: ${REDACTION_RULE})` : '');
    console.log(`# ${key.padEnd(44)} ${String(k.n).padStart(5)} cases ${String(k.differ).padStart(5)} differ${k.differ && DELIBERATE[key] ? '  (' + DELIBERATE[key] + ')' : ''}${why}`);
  }
  process.exit(unexplained ? 1 : 0);
}

main();
