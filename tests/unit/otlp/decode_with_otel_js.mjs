// Decodes an OTLP ExportTraceServiceRequest (protobuf bytes, file given as argv[2]) with the
// OpenTelemetry JS project's own generated protobuf code (@opentelemetry/otlp-transformer,
// a decoder zerotrace did not write) and prints it as JSON: bytes as lowercase hex, 64-bit
// integers as strings, enums as numbers.
// Usage: node decode_with_otel_js.mjs payload.bin
// ZT_OTEL_JS_DIR may name the folder that holds node_modules (default: this script's folder).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const base = process.env.ZT_OTEL_JS_DIR || here;
const require = createRequire(path.join(base, 'package.json'));
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

function normalize(v) {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x);
    return out;
  }
  return v;
}

const bytes = readFileSync(process.argv[2]);
const message = Request.decode(bytes);  // throws on malformed input
const err = Request.verify(message);
if (err) {
  console.error('verify failed: ' + err);
  process.exit(2);
}
const obj = Request.toObject(message, { longs: String, enums: Number, defaults: false });
process.stdout.write(JSON.stringify(normalize(obj)) + '\n');
