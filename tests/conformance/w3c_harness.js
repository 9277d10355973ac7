#!/usr/bin/env node
// w3c_harness.js - checks a service that speaks the W3C Trace Context test-suite protocol
// (examples/w3c-service) against the CURRENT rules of the W3C Trace Context recommendation:
// every case of the official suite (w3c/trace-context, test/test.py, strict level 2 and the
// Level 2 random-flag case) with the expectations it has today, plus a few cases of ours.
// Each case names the rule it checks: a quote of the specification, the official suite's
// test it mirrors, or "dptrace's own choice". Node only, no packages. The official suite
// itself runs through tests/conformance/run_official_suite.sh when a checkout is present.
//
// Usage: node w3c_harness.js --service <path to w3c-service>   (starts it on a free port)
//        node w3c_harness.js --endpoint http://127.0.0.1:5000/test (a running service)
// Exit: 0 all passed, 1 a case failed, 77 the service could not be started.
'use strict';

const http = require('http');
const net = require('net');
const { spawn } = require('child_process');

const TID = '12345678901234567890123456789012';
const PID = '1234567890123456';
const tp = (v, f, tid = TID, pid = PID) => `${v}-${tid}-${pid}-${f}`;

// The rules, quoted (W3C Trace Context, the current recommendation's text in spec/).
const R = {
  name: 'Header Name: "The header name is ASCII case-insensitive"; "it does not contain any delimiters such as a hyphen"',
  version: 'version: "Version 255 ("ff") is invalid"; "version = 2HEXDIGLC"',
  v00: 'version-format: "trace-id "-" parent-id "-" trace-flags" for version 00 (suite: test_traceparent_version_0x00)',
  future: 'Versioning of traceparent: "If a higher version is detected, the implementation SHOULD try to parse it"; flags "either at the end of the string or followed by a dash"',
  traceId: 'trace-id: "If the trace-id value is invalid (for example if it contains non-allowed characters or all zeros), vendors MUST ignore the entire header"',
  parentId: 'parent-id: "Vendors MUST ignore the traceparent when the parent-id is invalid"',
  flags: 'processing model: "If either trace-id, parent-id or trace-flags are invalid, the vendor creates a new traceparent header"; "trace-flags = 2HEXDIGLC"',
  ows: 'RFC 9110 5.5: OWS around a field value is not part of it (suite: test_traceparent_ows_handling)',
  dupTp: 'suite test_traceparent_duplicated: two traceparent headers start a new trace',
  receive: 'processing model: "Because the traceparent header is present, the vendor tries to parse" and continues the trace with a new parent-id',
  noTp: 'processing model: "If a tracestate header is received without an accompanying traceparent header, it is invalid and MUST be discarded"',
  inherit: 'Mutating the tracestate Field: "Vendors receiving a tracestate request header MUST send it to outgoing requests"',
  combine: 'tracestate Header Field Values: "When receiving multiple tracestate header fields, they MUST be combined into a single header"',
  empty: '"Empty and whitespace-only list members are allowed. Vendors MUST accept empty tracestate headers"',
  list: 'list: "Spaces and horizontal tabs surrounding list-members are ignored"',
  key: 'Key: "key = ( lcalpha / DIGIT ) 0*255 ( keychar )", "keychar = lcalpha / DIGIT / "_" / "-"/ "*" / "/" / "@""',
  keyLen: 'Key: "A key MUST begin with a lowercase letter or a digit and contain up to 256 characters"',
  value: 'Value: "up to 256 printable ASCII characters (i.e., the range 0x20 to 0x7E) except comma (,) and (=)"; "value = 0*255(chr) nblk-chr"',
  invalid: 'processing model: "If the tracestate header cannot be parsed the vendor MAY discard the entire header" (the suite expects it)',
  count: 'list: "There can be a maximum of 32 list-members in a list" (suite: test_tracestate_member_count_limit)',
  dupKey: 'Mutating the tracestate Field: "Vendors MAY also discard duplicate keys" (suite: test_tracestate_duplicated_keys: the list is inherited)',
  random: 'Random Trace ID Flag: "If the flag is set in the incoming traceparent header, it MUST also be set in all outgoing traceparent headers which use the same trace-id"',
  multi: 'suite AdvancedTest: every outgoing call continues the trace with its own parent-id',
  nul: 'RFC 9110 5.5: "a recipient of CR, LF, or NUL within a field value MUST either reject the message or replace each of those characters with SP"; the service rejects (never cuts the value at the NUL, never continues the trace)',
};

// ---- reading what the service sent us -------------------------------------------------

// Output traceparent, checked as the suite's Traceparent class checks it: exactly one
// header, version 00, lowercase hex, non-zero ids.
function outTraceparent(headers) {
  const v = headers.filter(([k]) => k.toLowerCase() === 'traceparent').map(([, x]) => x);
  if (v.length !== 1) throw new Error(`expected one traceparent, got ${JSON.stringify(v)}`);
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(v[0]);
  if (!m) throw new Error(`malformed traceparent ${JSON.stringify(v[0])}`);
  if (m[1] !== '00') throw new Error(`unsupported version in ${v[0]}`);
  if (/^0+$/.test(m[2]) || /^0+$/.test(m[3])) throw new Error(`zero id in ${v[0]}`);
  return { traceId: m[2], parentId: m[3], flags: parseInt(m[4], 16) };
}

// Output tracestate: every line combined, each non-empty member must follow the current
// W3C grammar (an invalid one fails the case); the first occurrence of a key is kept, as the
// official suite's Tracestate class does.
const KEY = '[0-9a-z][_0-9a-z\\-*/@]{0,255}';
const VAL = '[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,255}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]';
const MEMBER = new RegExp(`^(${KEY})=(${VAL})$`);
function outTracestate(headers) {
  const map = new Map();
  for (const [k, v] of headers) {
    if (k.toLowerCase() !== 'tracestate') continue;
    for (const member of v.split(/[ \t]*,[ \t]*/)) {
      if (!member) continue;
      const m = MEMBER.exec(member);
      if (!m) throw new Error(`service sent an invalid tracestate member ${JSON.stringify(member)}`);
      if (!map.has(m[1])) map.set(m[1], m[2]);
    }
  }
  map.text = [...map].map(([k, v]) => `${k}=${v}`).join(',');
  return map;
}

// ---- talking to the service ---------------------------------------------------------------

let callbacks = new Map(); // path -> { headers: [[k, v]], body }
let waiters = new Map();
let cbPort = 0;
let seq = 0;

function startCallbackServer() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const pairs = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
        callbacks.set(req.url, { headers: pairs, body: Buffer.concat(chunks).toString('utf8') });
        const w = waiters.get(req.url);
        if (w) w();
        res.end('ok');
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      cbPort = srv.address().port;
      resolve(srv);
    });
  });
}

// Sends the request byte for byte (header names, order, repeats and whitespace exactly as
// given), which an HTTP client library would normalise.
function rawPost(endpoint, headers, body) {
  const u = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const lines = [`POST ${u.pathname} HTTP/1.1`, `Host: ${u.host}`, 'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
    for (const [k, v] of headers) lines.push(`${k}: ${v}`);
    const chunks = [];
    sock.setTimeout(15000, () => sock.destroy(new Error('service did not answer in 15 s')));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve(m ? Number(m[1]) : 0);
    });
    sock.write(lines.join('\r\n') + '\r\n\r\n' + body);
  });
}

async function request(endpoint, headers, count = 1) {
  const id = ++seq;
  const urls = [];
  for (let i = 0; i < count; i++) urls.push(`/cb/${id}/${i}`);
  const body = JSON.stringify(urls.map((p) => ({ url: `http://127.0.0.1:${cbPort}${p}`, arguments: [] })));
  const status = await rawPost(endpoint, headers, body);
  if (status !== 200) throw new Error(`service answered HTTP ${status}`);
  // The protocol makes the calls before answering, so they must all be here by now.
  return urls.map((p) => {
    const cb = callbacks.get(p);
    if (!cb) throw new Error(`service made no callback to ${p}`);
    if (cb.body !== '[]') throw new Error(`callback body ${JSON.stringify(cb.body)}, expected []`);
    callbacks.delete(p);
    return cb;
  });
}

async function one(endpoint, headers) {
  const [cb] = await request(endpoint, headers, 1);
  return { tp: outTraceparent(cb.headers), ts: outTracestate(cb.headers) };
}

// ---- the cases ---------------------------------------------------------------------------------

function eq(a, b, what) { if (a !== b) throw new Error(`${what}: got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`); }
function ne(a, b, what) { if (a === b) throw new Error(`${what}: must not be ${JSON.stringify(b)}`); }
function yes(c, what) { if (!c) throw new Error(what); }

const P = (v) => [['traceparent', v]];
const P0 = (...ts) => [['traceparent', tp('00', '00')], ...ts.map((t) => ['tracestate', t])];

// Each case: [name, rule, fn]. The traceparent must be continued (same trace id) or not.
const continued = (name, rule, headers) => [name, rule, async (ep) => { const r = await one(ep, headers); eq(r.tp.traceId, TID, 'trace id'); return r; }];
const restarted = (name, rule, headers, ...others) => [name, rule, async (ep) => {
  const r = await one(ep, headers);
  ne(r.tp.traceId, TID, 'trace id');
  for (const o of others) ne(r.tp.traceId, o, 'trace id');
}];
// The tracestate must keep key=value / must not contain key.
const keeps = (name, rule, headers, pairs) => [name, rule, async (ep) => {
  const r = await one(ep, headers);
  eq(r.tp.traceId, TID, 'trace id');
  for (const [k, v] of pairs) eq(r.ts.get(k), v, `tracestate[${k}]`);
}];
const drops = (name, rule, headers, keys) => [name, rule, async (ep) => {
  const r = await one(ep, headers);
  eq(r.tp.traceId, TID, 'trace id');
  for (const k of keys) eq(r.ts.has(k), false, `tracestate has ${k}`);
}];

// The service must answer 400 and make no call at all.
const rejected = (name, rule, headers) => [name, rule, async (ep) => {
  const id = ++seq;
  const path = `/cb/${id}/0`;
  const status = await rawPost(ep, headers, JSON.stringify([{ url: `http://127.0.0.1:${cbPort}${path}`, arguments: [] }]));
  eq(status, 400, 'HTTP status');
  eq(callbacks.has(path), false, 'a callback was made');
}];

const keyNoVendor = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
const keyVendor = keyNoVendor + '@a-z0-9_-*/';
let allowedValue = '';
for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x2c && c !== 0x3d) allowedValue += String.fromCharCode(c);
const bars = (n) => Array.from({ length: n }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${String(i + 1).padStart(2, '0')}`);
const chunked = (list) => [list.slice(0, 10), list.slice(10, 20), list.slice(20, 30), list.slice(30)].map((l) => l.join(','));

const cases = [
  ['both traceparent and tracestate missing', 'suite test_both_traceparent_and_tracestate_missing: a valid traceparent is sent', async (ep) => { await one(ep, []); }],
  ['traceparent included, tracestate missing', R.receive, async (ep) => {
    const r = await one(ep, P(tp('00', '01')));
    eq(r.tp.traceId, TID, 'trace id');
    ne(r.tp.parentId, PID, 'parent id');
  }],
  restarted('traceparent duplicated', R.dupTp, [['traceparent', tp('00', '01', '12345678901234567890123456789011')], ['traceparent', tp('00', '01')]],
    '12345678901234567890123456789011'),
  restarted('traceparent header name trace-parent', R.name, [['trace-parent', tp('00', '01')]]),
  restarted('traceparent header name trace.parent', R.name, [['trace.parent', tp('00', '01')]]),
  continued('traceparent header name casing TraceParent', R.name, [['TraceParent', tp('00', '01')]]),
  continued('traceparent header name casing TrAcEpArEnT', R.name, [['TrAcEpArEnT', tp('00', '01')]]),
  continued('traceparent header name casing TRACEPARENT', R.name, [['TRACEPARENT', tp('00', '01')]]),
  restarted('version 00 with a trailing character', R.v00, P(tp('00', '01') + '.')),
  restarted('version 00 with extra fields', R.v00, P(tp('00', '01') + '-what-the-future-will-be-like')),
  continued('version cc', R.future, P(tp('cc', '01'))),
  continued('version cc with extra fields', R.future, P(tp('cc', '01') + '-what-the-future-will-be-like')),
  restarted('version cc with extra data not after a dash', R.future, P(tp('cc', '01') + '.what-the-future-will-be-like')),
  restarted('version ff', R.version, P(tp('ff', '01'))),
  restarted('version .0', R.version, P(tp('.0', '01'))),
  restarted('version 0.', R.version, P(tp('0.', '01'))),
  restarted('version 000', R.version, P(tp('000', '01'))),
  restarted('version 0000', R.version, P(tp('0000', '01'))),
  restarted('version 0', R.version, P(tp('0', '01'))),
  ['trace id all zero', R.traceId, async (ep) => {
    const r = await one(ep, P(tp('00', '01', '0'.repeat(32))));
    ne(r.tp.traceId, '0'.repeat(32), 'trace id');
  }],
  restarted('trace id with a leading illegal character', R.traceId, P(tp('00', '01', '.' + TID.slice(1))), '02345678901234567890123456789012'),
  restarted('trace id with a trailing illegal character', R.traceId, P(tp('00', '01', TID.slice(0, 31) + '.')), '12345678901234567890123456789010'),
  restarted('trace id too long', R.traceId, P(tp('00', '01', TID + '3')), '23456789012345678901234567890123'),
  restarted('trace id too short', R.traceId, P(tp('00', '01', TID.slice(0, 31))), '01234567890123456789012345678901'),
  restarted('parent id all zero', R.parentId, P(tp('00', '01', TID, '0'.repeat(16)))),
  restarted('parent id with a leading illegal character', R.parentId, P(tp('00', '01', TID, '.' + PID.slice(1)))),
  restarted('parent id with a trailing illegal character', R.parentId, P(tp('00', '01', TID, PID.slice(0, 15) + '.'))),
  restarted('parent id too long', R.parentId, P(tp('00', '01', TID, PID + '7'))),
  restarted('parent id too short', R.parentId, P(tp('00', '01', TID, PID.slice(0, 15)))),
  restarted('trace flags .0', R.flags, P(tp('00', '.0'))),
  restarted('trace flags 0.', R.flags, P(tp('00', '0.'))),
  restarted('trace flags too long', R.flags, P(tp('00', '001'))),
  restarted('trace flags too short', R.flags, P(tp('00', '1'))),
  continued('traceparent with a leading space', R.ows, P(' ' + tp('00', '01'))),
  continued('traceparent with a leading tab', R.ows, P('\t' + tp('00', '01'))),
  continued('traceparent with a trailing space', R.ows, P(tp('00', '01') + ' ')),
  continued('traceparent with a trailing tab', R.ows, P(tp('00', '01') + '\t')),
  continued('traceparent with tabs and spaces around', R.ows, P('\t ' + tp('00', '01') + ' \t')),
  ['tracestate without traceparent is discarded', R.noTp, async (ep) => {
    const a = await one(ep, [['tracestate', 'foo=1']]);
    const b = await one(ep, [['tracestate', 'foo=1,bar=2']]);
    eq(a.ts.size, b.ts.size, 'tracestate sizes');
    eq(a.ts.has('foo'), false, 'tracestate has foo');
  }],
  keeps('tracestate with traceparent is inherited', R.inherit, P0('foo=1,bar=2'), [['foo', '1'], ['bar', '2']]),
  drops('tracestate header name trace-state', R.name, [['traceparent', tp('00', '00')], ['trace-state', 'foo=1']], ['foo']),
  drops('tracestate header name trace.state', R.name, [['traceparent', tp('00', '00')], ['trace.state', 'foo=1']], ['foo']),
  keeps('tracestate header name casing TraceState', R.name, [['traceparent', tp('00', '00')], ['TraceState', 'foo=1']], [['foo', '1']]),
  keeps('tracestate header name casing TrAcEsTaTe', R.name, [['traceparent', tp('00', '00')], ['TrAcEsTaTe', 'foo=1']], [['foo', '1']]),
  keeps('tracestate header name casing TRACESTATE', R.name, [['traceparent', tp('00', '00')], ['TRACESTATE', 'foo=1']], [['foo', '1']]),
  ['empty tracestate header', R.empty, async (ep) => {
    const r = await one(ep, P0(''));
    eq(r.tp.traceId, TID, 'trace id');
    eq(r.ts.size, 0, 'tracestate members');
  }],
  keeps('tracestate then an empty line', R.empty, P0('foo=1', ''), [['foo', '1']]),
  keeps('an empty line then tracestate', R.empty, P0('', 'foo=1'), [['foo', '1']]),
  ['tracestate lines are combined in order', R.combine, async (ep) => {
    const r = await one(ep, P0('foo=1,bar=2', 'rojo=1,congo=2', 'baz=3'));
    eq(r.tp.traceId, TID, 'trace id');
    const order = ['foo=1', 'bar=2', 'rojo=1', 'congo=2', 'baz=3'].map((m) => r.ts.text.indexOf(m));
    yes(order.every((x, i) => x >= 0 && (i === 0 || x > order[i - 1])), `order in ${r.ts.text}`);
  }],
  keeps('duplicated key, same value', R.dupKey, P0('foo=1,foo=1'), [['foo', '1']]),
  ['duplicated key, other value', R.dupKey, async (ep) => {
    const r = await one(ep, P0('foo=1,foo=2'));
    eq(r.tp.traceId, TID, 'trace id');
    yes(r.ts.get('foo') === '1' || r.ts.get('foo') === '2', `tracestate[foo] is ${r.ts.get('foo')}`);
  }],
  keeps('duplicated key across lines, same value', R.dupKey, P0('foo=1', 'foo=1'), [['foo', '1']]),
  ['duplicated key across lines, other value', R.dupKey, async (ep) => {
    const r = await one(ep, P0('foo=1', 'foo=2'));
    eq(r.tp.traceId, TID, 'trace id');
    yes(r.ts.get('foo') === '1' || r.ts.get('foo') === '2', `tracestate[foo] is ${r.ts.get('foo')}`);
  }],
  keeps('duplicated key keeps the other members', R.dupKey, P0('a=1,foo=1,b=2,foo=2'), [['a', '1'], ['b', '2']]),
  keeps('every allowed character, simple key', R.key, P0(`${keyNoVendor}=${allowedValue}`), [[keyNoVendor, allowedValue]]),
  keeps('every allowed character, key with @', R.key, P0(`${keyVendor}=${allowedValue}`), [[keyVendor, allowedValue]]),
  keeps('tracestate with spaces and tabs around commas', R.list, P0('foo=1 \t , \t bar=2, \t baz=3'), [['foo', '1'], ['bar', '2'], ['baz', '3']]),
  keeps('tracestate with tabs and spaces around commas', R.list, P0('foo=1\t \t,\t \tbar=2,\t \tbaz=3'), [['foo', '1'], ['bar', '2'], ['baz', '3']]),
  keeps('tracestate with a leading space', R.list, P0(' foo=1'), [['foo', '1']]),
  keeps('tracestate with a leading tab', R.list, P0('\tfoo=1'), [['foo', '1']]),
  keeps('tracestate with a trailing space', R.list, P0('foo=1 '), [['foo', '1']]),
  keeps('tracestate with a trailing tab', R.list, P0('foo=1\t'), [['foo', '1']]),
  keeps('tracestate with tabs and spaces around', R.list, P0('\t foo=1 \t'), [['foo', '1']]),
  drops('key with a space before =', R.invalid, P0('foo =1'), ['foo ', 'foo']),
  drops('uppercase key', R.invalid, P0('FOO=1'), ['FOO']),
  drops('key with a dot', R.invalid, P0('foo.bar=1'), ['foo.bar']),
  keeps('key ending with @', R.key, P0('foo@=1,bar=2'), [['foo@', '1'], ['bar', '2']]),
  drops('key starting with @ discards the list', R.key + '; ' + R.invalid, P0('@foo=1,bar=2'), ['bar']),
  keeps('key with two @ in a row', R.key, P0('foo@@bar=1,bar=2'), [['foo@@bar', '1'], ['bar', '2']]),
  keeps('key with two @', R.key, P0('foo@bar@baz=1,bar=2'), [['foo@bar@baz', '1'], ['bar', '2']]),
  keeps('key starting with a digit', R.key, P0('9=&uiq-w,bar=2'), [['9', '&uiq-w'], ['bar', '2']]),
  ['32 members are kept', R.count, async (ep) => {
    const r = await one(ep, P0(...chunked(bars(32))));
    eq(r.ts.get('bar01'), '01', 'tracestate[bar01]');
    eq(r.ts.size, 32, 'tracestate members');
  }],
  drops('33 members discard the tracestate', R.count + '; ' + R.invalid, P0(...chunked(bars(33))), ['bar01']),
  keeps('key of 256 characters', R.keyLen, P0('foo=1', 'z'.repeat(256) + '=1'), [['foo', '1'], ['z'.repeat(256), '1']]),
  drops('key of 257 characters discards the list', R.keyLen + '; ' + R.invalid, P0('foo=1', 'z'.repeat(257) + '=1'), ['foo']),
  keeps('key of 241 + @ + 14 characters', R.keyLen, P0('foo=1', 't'.repeat(241) + '@' + 'v'.repeat(14) + '=1'), [['foo', '1'], ['t'.repeat(241) + '@' + 'v'.repeat(14), '1']]),
  keeps('key of 242 + @v characters', R.keyLen, P0('foo=1', 't'.repeat(242) + '@v=1'), [['foo', '1'], ['t'.repeat(242) + '@v', '1']]),
  keeps('key of t@ + 15 characters', R.keyLen, P0('foo=1', 't@' + 'v'.repeat(15) + '=1'), [['foo', '1'], ['t@' + 'v'.repeat(15), '1']]),
  drops('value with =', R.value + '; ' + R.invalid, P0('foo=bar=baz'), ['foo']),
  drops('empty value discards the list', R.value + '; ' + R.invalid, P0('foo=,bar=3'), ['foo', 'bar']),
  ['three calls with a valid traceparent share the trace', R.multi, async (ep) => {
    const cbs = await request(ep, P(tp('00', '01')), 3);
    const t = cbs.map((c) => outTraceparent(c.headers));
    eq(new Set(t.map((x) => x.traceId)).size, 1, 'distinct trace ids');
    eq(t[0].traceId, TID, 'trace id');
    eq(new Set(t.map((x) => x.parentId)).size, 3, 'distinct parent ids');
  }],
  ['three calls without traceparent', R.multi, async (ep) => {
    const t = (await request(ep, [], 3)).map((c) => outTraceparent(c.headers));
    eq(new Set(t.map((x) => x.parentId)).size, 3, 'distinct parent ids');
  }],
  ['three calls with an illegal traceparent', R.multi, async (ep) => {
    const t = (await request(ep, P(tp('00', '01', '0'.repeat(32))), 3)).map((c) => outTraceparent(c.headers));
    yes(t.every((x) => x.traceId !== '0'.repeat(32)), 'zero trace id sent');
    eq(new Set(t.map((x) => x.parentId)).size, 3, 'distinct parent ids');
  }],
  ['level 2: the random flag is propagated', R.random, async (ep) => {
    const r = await one(ep, P(tp('00', '02')));
    eq(r.tp.traceId, TID, 'trace id');
    ne(r.tp.parentId, PID, 'parent id');
    eq(r.tp.flags & 2, 2, 'random flag');
  }],
  // Ours: a NUL byte inside a value must not cut it short (a C string would).
  rejected('traceparent followed by a NUL byte', R.nul, P(tp('00', '01') + '\0')),
  rejected('tracestate value with a NUL byte', R.nul, P0('foo=a\0b,bar=2')),
];

// ---- running -------------------------------------------------------------------------------------

// The service binds a free port itself (argument 0) and prints it: no port is chosen here
// and released before use, so parallel runs cannot collide.
function startService(path) {
  return new Promise((resolve, reject) => {
    const child = spawn(path, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('service did not start in 10 s')); }, 10000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`service exited with ${code}`)); });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/test)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, endpoint: m[1] }); }
    });
  });
}

async function main() {
  const args = process.argv.slice(2);
  let endpoint = null, child = null;
  const srv = await startCallbackServer();
  try {
    if (args[0] === '--service') ({ child, endpoint } = await startService(args[1]));
    else if (args[0] === '--endpoint') endpoint = args[1];
    else throw new Error('usage: w3c_harness.js --service PATH | --endpoint URL');
  } catch (e) {
    console.log(`# SKIP: ${e.message}`);
    srv.close();
    process.exit(77);
  }
  let failed = 0;
  console.log(`1..${cases.length}`);
  for (let i = 0; i < cases.length; i++) {
    const [name, rule, fn] = cases[i];
    try {
      await fn(endpoint);
      console.log(`ok ${i + 1} - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok ${i + 1} - ${name}\n#   ${e.message}\n#   rule: ${rule}`);
    }
  }
  console.log(`# ${cases.length - failed}/${cases.length} passed (current W3C rules, strict level 2)`);
  if (child) { child.removeAllListeners('exit'); child.kill('SIGTERM'); }
  srv.close();
  process.exit(failed ? 1 : 0);
}

main();
