// corpus.js - generates the differential-test corpus: header sets for every propagation
// format, valid and malformed, each tagged with the kind of mutation that produced it.
// Deterministic (seeded), so a failure names a case that can be regenerated.
'use strict';

// xorshift32: small, seedable, good enough to spread the cases.
function rng(seed) {
  let x = seed >>> 0 || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
  return {
    f: next,
    int: (n) => Math.floor(next() * n),
    pick: (a) => a[Math.floor(next() * a.length)],
    chance: (p) => next() < p,
  };
}

function gen(seed = 20240601) {
  const r = rng(seed);
  const HEX = '0123456789abcdef';
  const hex = (n) => { let s = ''; for (let i = 0; i < n; i++) s += HEX[r.int(16)]; return s; };
  const nz = (n) => { let s; do { s = hex(n); } while (/^0+$/.test(s)); return s; };
  const upperOne = (s) => { const i = s.search(/[a-f]/); return i < 0 ? s.replace(/^./, 'A') : s.slice(0, i) + s[i].toUpperCase() + s.slice(i + 1); };
  const lc = 'abcdefghijklmnopqrstuvwxyz';
  const tsKey = () => {
    let k = lc[r.int(26)];
    const chars = lc + '0123456789_-*/';
    for (let i = r.int(8); i > 0; i--) k += chars[r.int(chars.length)];
    if (r.chance(0.2)) { k += '@' + lc[r.int(26)]; for (let i = r.int(4); i > 0; i--) k += lc[r.int(26)]; }
    return k;
  };
  const tsVal = () => {
    let v = '';
    for (let i = r.int(12); i > 0; i--) { let c; do { c = 0x20 + r.int(95); } while (c === 0x2c || c === 0x3d); v += String.fromCharCode(c); }
    let last; do { last = 0x21 + r.int(94); } while (last === 0x2c || last === 0x3d);
    return v + String.fromCharCode(last);
  };
  const tsList = (n) => { const keys = new Set(); const out = []; while (out.length < n) { const k = tsKey(); if (keys.has(k)) continue; keys.add(k); out.push(`${k}=${tsVal()}`); } return out; };
  const cases = [];
  const add = (prop, kind, headers) => cases.push({ id: cases.length + 1, prop, kind, headers });

  // ---- W3C trace context ----
  const tp = (v = '00', t = nz(32), s = nz(16), f = r.pick(['00', '01', '02', '03'])) => `${v}-${t}-${s}-${f}`;
  for (let i = 0; i < 3600; i++) {
    const k = r.int(20);
    const ts = r.chance(0.5) ? [['tracestate', tsList(1 + r.int(5)).join(r.pick([',', ', ', ' ,\t', ',,']))]] : [];
    switch (k) {
      case 0: case 1: case 2: add('tracecontext', 'valid', [['traceparent', tp()], ...ts]); break;
      case 3: add('tracecontext', 'uppercase', [['traceparent', r.chance(0.5) ? tp('00', upperOne(nz(32))) : tp('00', undefined, upperOne(nz(16)))], ...ts]); break;
      case 4: add('tracecontext', 'zero-id', [['traceparent', r.chance(0.5) ? tp('00', '0'.repeat(32)) : tp('00', undefined, '0'.repeat(16))], ...ts]); break;
      case 5: { // wrong lengths in any field
        const f = r.int(4), d = r.pick([-1, 1, 2]);
        const parts = ['00', nz(32), nz(16), '01'];
        parts[f] = d < 0 ? parts[f].slice(0, d) : parts[f] + hex(d);
        add('tracecontext', 'wrong-length', [['traceparent', parts.join('-')], ...ts]); break;
      }
      case 6: add('tracecontext', 'version-ff', [['traceparent', tp('ff')], ...ts]); break;
      case 7: add('tracecontext', 'future-version', [['traceparent', tp(r.pick(['01', 'cc', 'fe'])) + r.pick(['', '-x', '-what-the-future-will-be-like', '-'])], ...ts]); break;
      case 8: add('tracecontext', 'version-00-extra', [['traceparent', tp() + r.pick(['.', '-x', '-', 'x'])], ...ts]); break;
      case 9: add('tracecontext', 'unknown-flags', [['traceparent', tp('00', undefined, undefined, hex(2).replace(/^0[0-3]$/, '04'))], ...ts]); break;
      case 10: add('tracecontext', 'ows-single', [['traceparent', r.pick([' ', '\t', '']) + tp() + r.pick([' ', '\t', ''])], ...ts]); break;
      case 11: add('tracecontext', 'ows-multi', [['traceparent', r.pick(['  ', '\t ', ' \t\t']) + tp() + r.pick(['  ', '', '\t\t'])], ...ts]); break;
      case 12: { const v = tp(); add('tracecontext', 'duplicate-traceparent', [['traceparent', v], ['traceparent', r.chance(0.5) ? v : tp()], ...ts]); break; }
      case 13: add('tracecontext', 'tracestate-lines', [['traceparent', tp()], ...tsList(2 + r.int(4)).map((m) => ['tracestate', m]), ...(r.chance(0.3) ? [['tracestate', '']] : [])]); break;
      case 14: { // one invalid member among valid ones
        const bad = r.pick(['FOO=1', 'foo.bar=1', 'foo=', 'foo=a=b', '_x=1', '@foo=1', '-a=1', 'foo =1', 'nokey', '=1', 'k=' + 'v'.repeat(257), 'z'.repeat(257) + '=1', 'k=a,b']);
        const l = tsList(1 + r.int(4)); l.splice(r.int(l.length + 1), 0, bad);
        add('tracecontext', 'tracestate-invalid-member', [['traceparent', tp()], ['tracestate', l.join(',')]]); break;
      }
      case 15: { const l = tsList(1 + r.int(4)); l.push(l[0].split('=')[0] + '=' + tsVal()); add('tracecontext', 'tracestate-duplicate-key', [['traceparent', tp()], ['tracestate', l.join(',')]]); break; }
      case 16: add('tracecontext', 'tracestate-too-many', [['traceparent', tp()], ['tracestate', tsList(33 + r.int(10)).join(',')]]); break;
      case 17: add('tracecontext', 'tracestate-32', [['traceparent', tp()], ['tracestate', Array.from({ length: 32 }, (_, j) => `k${j}=${j}`).join(',')]]); break;
      case 18: { const l = []; let n = 0; while (n < 600) { const m = `${tsKey()}${l.length}=${'x'.repeat(1 + r.int(150))}`; l.push(m); n += m.length + 1; } add('tracecontext', 'tracestate-long', [['traceparent', tp()], ['tracestate', l.slice(0, 32).join(',')]]); break; }
      case 19: add('tracecontext', 'tracestate-without-traceparent', [['tracestate', tsList(2).join(',')], ...(r.chance(0.5) ? [['traceparent', tp('00', '0'.repeat(32))]] : [])]); break;
    }
    // Keys valid in the current W3C grammar (key = ( lcalpha / DIGIT ) 0*255 ( keychar ),
    // '@' a keychar) that the older tenant@system rule rejected.
    if (r.chance(0.05)) {
      const key = r.pick(['foo@', 'foo@@bar', 'a@b@c', '9', '0x', 't'.repeat(242) + '@v', 't@' + 'v'.repeat(15), '7@x']);
      const l = tsList(1 + r.int(3)); l.splice(r.int(l.length + 1), 0, `${key}=${tsVal()}`);
      add('tracecontext', 'tracestate-current-key-grammar', [['traceparent', tp()], ['tracestate', l.join(',')]]);
    }
  }

  // ---- W3C baggage ----
  const bKey = () => { const c = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.'; let k = ''; for (let i = 1 + r.int(10); i > 0; i--) k += c[r.int(c.length)]; return k; };
  const bRawVal = () => { // a decoded value: ASCII, some specials, sometimes non-ASCII
    const pool = ['a', 'b', 'Z', '0', '9', ' ', ',', ';', '=', '%', '/', '+', '!', '*', '(', '~', '"', '\\', 'é', '€', '日', '\0'];
    let v = ''; for (let i = r.int(12); i > 0; i--) v += r.pick(pool); return v;
  };
  const bMember = (props = false) => `${bKey()}=${encodeURIComponent(bRawVal())}${props ? r.pick([';p', ';p=1', ';p1;p2=v2', ';k=v']) : ''}`;
  const uniq = (n, props) => { const seen = new Set(); const out = []; while (out.length < n) { const m = bMember(props); const k = m.split('=')[0]; if (seen.has(k)) continue; seen.add(k); out.push(m); } return out; };
  for (let i = 0; i < 3600; i++) {
    const k = r.int(14);
    switch (k) {
      case 0: case 1: case 2: add('baggage', 'valid', [['baggage', uniq(1 + r.int(8), false).join(r.pick([',', ', ', ' , ', ',\t']))]]); break;
      case 3: add('baggage', 'valid-properties', [['baggage', uniq(1 + r.int(5), true).join(',')]]); break;
      case 4: add('baggage', 'properties-ows', [['baggage', uniq(1 + r.int(4), false).map((m) => m + r.pick([' ; p', ';\tp = 1', ' ;p'])).join(',')]]); break;
      case 5: add('baggage', 'repeated-lines', uniq(2 + r.int(3), false).map((m) => ['baggage', m])); break;
      case 6: { const l = uniq(2 + r.int(4), false); l.push(l[0].split('=')[0] + '=dup'); add('baggage', 'duplicate-key', [['baggage', l.join(',')]]); break; }
      case 7: { const l = uniq(1 + r.int(4), false); l.splice(r.int(l.length + 1), 0, r.pick(['novalue', '=v', ' =v'])); add('baggage', 'member-without-key', [['baggage', l.join(',')]]); break; }
      case 8: { const l = uniq(1 + r.int(4), false); l.splice(r.int(l.length + 1), 0, r.pick(['k y=1', 'k(=1', 'k"=1', 'k{x}=1', 'k@x=1', 'k#=1', 'k$=1'])); add('baggage', 'key-not-token', [['baggage', l.join(',')]]); break; }
      case 9: { const l = uniq(1 + r.int(4), false); l.splice(r.int(l.length + 1), 0, r.pick(['k=a b', 'k="q"', 'k=a\\b', 'k=\u00e9'])); add('baggage', 'value-not-octets', [['baggage', l.join(',')]]); break; }
      case 10: { const l = uniq(1 + r.int(4), false); l.splice(r.int(l.length + 1), 0, r.pick(['k=%', 'k=%4', 'k=%ZZ', 'k=a%2', 'k=%g0'])); add('baggage', 'bad-percent', [['baggage', l.join(',')]]); break; }
      case 11: { const l = uniq(1 + r.int(4), false); l.splice(r.int(l.length + 1), 0, r.pick(['k=%FF', 'k=%C3%28', 'k=%E2%82', 'k=%ED%A0%80'])); add('baggage', 'bad-utf8', [['baggage', l.join(',')]]); break; }
      case 12: { const n = r.pick([65, 100, 181, 200]); add('baggage', 'too-many-entries', [['baggage', Array.from({ length: n }, (_, j) => `k${j}=${j}`).join(',')]]); break; }
      case 13: { const l = []; let n = 0; while (n < 9000) { const m = `k${l.length}=${'v'.repeat(1 + r.int(r.chance(0.3) ? 5000 : 600))}`; l.push(m); n += m.length + 1; } add('baggage', 'oversize', [['baggage', l.join(',')]]); break; }
    }
  }

  // ---- B3 (single and multi) ----
  const b3p = () => r.pick(['b3', 'b3multi']);
  for (let i = 0; i < 3000; i++) {
    const k = r.int(16);
    const t = r.chance(0.7) ? nz(32) : nz(16), s = nz(16);
    switch (k) {
      case 0: case 1: add(b3p(), 'single-valid', [['b3', `${t}-${s}` + r.pick(['', '-0', '-1', `-1-${nz(16)}`, `-0-${nz(16)}`])]]); break;
      case 2: add(b3p(), 'single-debug', [['b3', `${t}-${s}-d` + r.pick(['', `-${nz(16)}`])]]); break;
      case 3: add(b3p(), 'single-state-only', [['b3', r.pick(['0', '1', 'd'])]]); break;
      case 4: add(b3p(), 'single-malformed', [['b3', r.pick([`${upperOne(t)}-${s}-1`, `${'0'.repeat(32)}-${s}-1`, `${t}-${'0'.repeat(16)}-1`, `${t}-${s}-2`, `${t}-${s}-`, `${t}`, '', `${t}-${s}-1-`, `${t}-${s}-x`])]]); break;
      case 5: add(b3p(), 'single-garbage-around', [['b3', r.pick(['x', 'zz-', '--', 'g']) + `${t}-${s}-1` + r.pick(['', 'x', '-zz'])]]); break;
      case 6: add(b3p(), 'single-wrong-length', [['b3', `${hex(r.pick([15, 17, 24, 31, 33]))}-${hex(r.pick([16, 15, 17]))}-1`]]); break;
      case 7: add(b3p(), 'single-duplicate', [['b3', `${t}-${s}-1`], ['b3', `${nz(32)}-${s}-0`]]); break;
      case 8: case 9: add(b3p(), 'multi-valid', [['x-b3-traceid', t], ['x-b3-spanid', s], ...(r.chance(0.8) ? [['x-b3-sampled', r.pick(['1', '0', 'true', 'false'])]] : []), ...(r.chance(0.3) ? [['x-b3-parentspanid', nz(16)]] : [])]); break;
      case 10: add(b3p(), 'multi-debug', [['x-b3-traceid', t], ['x-b3-spanid', s], ['x-b3-flags', '1'], ...(r.chance(0.5) ? [['x-b3-sampled', '1']] : [])]); break;
      case 11: add(b3p(), 'multi-short-id', [['x-b3-traceid', nz(1 + r.int(15))], ['x-b3-spanid', s], ['x-b3-sampled', '1']]); break;
      case 12: add(b3p(), 'multi-uppercase', [['x-b3-traceid', upperOne(t)], ['x-b3-spanid', r.chance(0.5) ? upperOne(s) : s], ['x-b3-sampled', '1']]); break;
      case 13: add(b3p(), 'multi-malformed', r.pick([[['x-b3-traceid', t]], [['x-b3-spanid', s]], [['x-b3-traceid', t], ['x-b3-spanid', s], ['x-b3-sampled', r.pick(['2', 'yes', ''])]], [['x-b3-traceid', '0'.repeat(32)], ['x-b3-spanid', s]], [['x-b3-traceid', t + 'a'], ['x-b3-spanid', s]], [['x-b3-traceid', t], ['x-b3-spanid', s.slice(1)]]])); break;
      case 14: add(b3p(), 'multi-whitespace', [['x-b3-traceid', ' ' + t], ['x-b3-spanid', s + ' '], ['x-b3-sampled', r.pick(['1', ' 1'])]]); break;
      case 15: add(b3p(), 'multi-duplicate', [['x-b3-traceid', t], ['x-b3-traceid', nz(32)], ['x-b3-spanid', s], ['x-b3-sampled', '1']]); break;
    }
  }

  // ---- Jaeger ----
  for (let i = 0; i < 2200; i++) {
    const k = r.int(12);
    const t = nz(r.pick([32, 16, 1 + r.int(31)])), s = nz(r.pick([16, 1 + r.int(15)]));
    const bag = r.chance(0.4) ? Array.from({ length: 1 + r.int(3) }, (_, j) => [`uberctx-k${j}${lc[r.int(26)]}`, encodeURIComponent(bRawVal())]) : [];
    switch (k) {
      case 0: case 1: case 2: add('jaeger', 'valid', [['uber-trace-id', `${t}:${s}:${r.pick(['0', nz(16)])}:${r.pick(['0', '1', '01', '00'])}`], ...bag]); break;
      case 3: add('jaeger', 'encoded-separators', [['uber-trace-id', `${t}%3A${s}%3A0%3A1`], ...bag]); break;
      case 4: add('jaeger', 'debug-flag', [['uber-trace-id', `${t}:${s}:0:${r.pick(['2', '3', '03', '02'])}`]]); break;
      case 5: add('jaeger', 'wrong-field-count', [['uber-trace-id', r.pick([`${t}:${s}:0`, `${t}:${s}:0:1:1`, `${t}:${s}`, ''])], ...bag]); break;
      case 6: add('jaeger', 'not-hex', [['uber-trace-id', r.pick([`${t}zz:${s}:0:1`, `${t}:x${s}:0:1`, `${t}:${s}:0:zz`, `${t}:${s}:0:`, `${t}:${s}:0:100`])]]); break;
      case 7: add('jaeger', 'zero-ids', [['uber-trace-id', r.pick([`0:${s}:0:1`, `${t}:0:0:1`, `${'0'.repeat(32)}:${s}:0:1`])]]); break;
      case 8: add('jaeger', 'uppercase', [['uber-trace-id', `${upperOne(t)}:${s}:0:1`]]); break;
      case 9: add('jaeger', 'too-long-ids', [['uber-trace-id', `${nz(33)}:${s}:0:1`]]); break;
      case 10: add('jaeger', 'bad-percent', [['uber-trace-id', `${t}:${s}:0:1`], ['uberctx-k', r.pick(['%', '%ZZ', '%FF'])]]); break;
      case 11: add('jaeger', 'baggage-only', bag.length ? bag : [['uberctx-user', 'alice']]); break;
    }
    if (r.chance(0.1)) add('jaeger', 'jaeger-baggage-header', [['uber-trace-id', `${t}:${s}:0:1`], ['jaeger-baggage', `k${r.int(9)}=${encodeURIComponent(bRawVal())}, j=2`]]);
  }

  // ---- OpenTracing (ottrace) ----
  // Raw header values: what an HTTP server hands over has no OWS at either end.
  const otVal = () => { const c = 'abcXYZ019 -_.~!%/=+:;,'; let v = ''; for (let i = r.int(10); i > 0; i--) v += c[r.int(c.length)]; return v.trim(); };
  for (let i = 0; i < 2000; i++) {
    const k = r.int(12);
    const t = r.chance(0.5) ? nz(16) : nz(32), s = nz(16);
    const bag = r.chance(0.4) ? Array.from({ length: 1 + r.int(3) }, (_, j) => [`ot-baggage-k${j}${lc[r.int(26)]}`, otVal()]) : [];
    const smp = () => r.pick(['true', 'false']);
    switch (k) {
      case 0: case 1: case 2: add('ottrace', 'valid', [['ot-tracer-traceid', t], ['ot-tracer-spanid', s], ['ot-tracer-sampled', smp()], ...bag]); break;
      case 3: add('ottrace', 'sampled-bit', [['ot-tracer-traceid', t], ['ot-tracer-spanid', s], ['ot-tracer-sampled', r.pick(['1', '0'])]]); break;
      case 4: add('ottrace', 'sampled-other', [['ot-tracer-traceid', t], ['ot-tracer-spanid', s], ['ot-tracer-sampled', r.pick(['TRUE', 'False', 'yes', '', ' true'])]]); break;
      case 5: add('ottrace', 'sampled-absent', [['ot-tracer-traceid', t], ['ot-tracer-spanid', s], ...bag]); break;
      case 6: add('ottrace', 'missing-field', r.pick([[['ot-tracer-traceid', t]], [['ot-tracer-spanid', s]], [['ot-tracer-sampled', 'true']]])); break;
      case 7: add('ottrace', 'short-ids', [['ot-tracer-traceid', nz(1 + r.int(15))], ['ot-tracer-spanid', r.chance(0.5) ? s : nz(1 + r.int(15))], ['ot-tracer-sampled', 'true']]); break;
      case 8: add('ottrace', 'uppercase', [['ot-tracer-traceid', upperOne(t)], ['ot-tracer-spanid', s], ['ot-tracer-sampled', 'true']]); break;
      case 9: add('ottrace', 'bad-ids', [['ot-tracer-traceid', r.pick(['0'.repeat(16), nz(33), t + 'x', ''])], ['ot-tracer-spanid', r.pick([s, '0'.repeat(16), nz(17)])], ['ot-tracer-sampled', 'true']]); break;
      case 10: add('ottrace', 'duplicate', [['ot-tracer-traceid', t], ['ot-tracer-traceid', nz(16)], ['ot-tracer-spanid', s], ['ot-tracer-sampled', 'true'], ...bag]); break;
      case 11: add('ottrace', 'baggage-only', bag.length ? bag : [['ot-baggage-user', 'alice']]); break;
    }
    if (r.chance(0.05)) add('ottrace', 'baggage-whitespace', [['ot-tracer-traceid', t], ['ot-tracer-spanid', s], ['ot-baggage-k', r.pick([' a', 'a ', '\tb c\t'])]]);
  }
  return cases;
}

module.exports = { gen };
