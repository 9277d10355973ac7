// send.mjs - the OpenTelemetry JavaScript SDK as a client of `dptrace collect`: one trace
// (a server span with two children, one failing, an event and a link) sent with the
// OTLP/HTTP protobuf exporter and one with the OTLP/HTTP JSON exporter.
// usage: node send.mjs URL   (URL = http://127.0.0.1:PORT/v1/traces); prints the trace ids.
import { trace, SpanKind, SpanStatusCode, context } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';

const url = process.argv[2];

async function send(encoding, Exporter) {
  const exporter = new Exporter({ url });
  let result = null;
  const wrapped = {
    export(spans, done) {
      exporter.export(spans, (r) => { result = r; done(r); });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': `js-${encoding}` }),
    spanProcessors: [new BatchSpanProcessor(wrapped)],
  });
  const tracer = provider.getTracer('collect-test', '1.0.0');
  const root = tracer.startSpan(`GET /js/${encoding}`, { kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'GET', 'js.ok': true, 'js.ratio': 0.25 } });
  const ctx = trace.setSpan(context.active(), root);
  const a = tracer.startSpan('load 注文', { attributes: { 'list': ['a', 'b'] } }, ctx);
  a.addEvent('cache.miss', { key: 'k1' });
  a.end();
  const b = tracer.startSpan('charge', { kind: SpanKind.CLIENT,
    links: [{ context: a.spanContext(), attributes: { why: 'retry' } }] }, ctx);
  b.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
  b.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  if (!result || result.code !== 0) {
    console.error(`${encoding}: export failed: ${result && result.error}`);
    process.exit(1);
  }
  console.log(`${encoding} ${root.spanContext().traceId}`);
}

await send('protobuf', ProtoExporter);
await send('json', JsonExporter);
