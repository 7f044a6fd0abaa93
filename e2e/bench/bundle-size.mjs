// The dashboard's download: every .wasm, .js and .css file of frontend/dist (with the
// wasm-bindgen snippets), each gzipped at level 9 as a server or CDN would send it. Prints one
// JSON line with the total and each file; exits 1 over the bar (500 KB, BENCHMARKS.md).
//
//   node e2e/bench/bundle-size.mjs [DIST_DIR]      (default frontend/dist; build it first with
//                                                   scripts/build-frontend)

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.resolve(process.argv[2] ?? path.join(REPO, 'frontend', 'dist'));
const BAR_BYTES = 500_000;

function* files(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else if (/\.(wasm|js|css)$/.test(entry.name)) yield full;
  }
}

const sizes = [...files(DIST)].map((file) => {
  const raw = fs.readFileSync(file);
  return {
    file: path.relative(DIST, file),
    bytes: raw.length,
    gzip_bytes: zlib.gzipSync(raw, { level: 9 }).length,
  };
});
const total = sizes.reduce((sum, s) => sum + s.gzip_bytes, 0);
console.log(JSON.stringify({ gzip_total_bytes: total, bar_bytes: BAR_BYTES, pass: total < BAR_BYTES, files: sizes }));
if (total >= BAR_BYTES) process.exitCode = 1;
