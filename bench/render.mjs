#!/usr/bin/env node
// Writes bench/RESULTS.md and bench/recall-qps-<dataset>.svg from the committed summaries in
// bench/summaries/ and the text in bench/templates/RESULTS.md. Nothing else is read: every
// figure in RESULTS.md can be traced to a summary key.
//   node bench/render.mjs            # write the files
//   node bench/render.mjs --check    # exit 1 when a committed file differs from what it would write
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderAll, BENCH_DIR } from './lib/render.mjs';

const { values: args } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
const files = renderAll();
let stale = 0;
for (const [rel, text] of Object.entries(files)) {
  const file = path.join(BENCH_DIR, rel);
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
  if (args.check) {
    if (old !== text) {
      console.error(
        `bench/${rel} is not what bench/render.mjs writes from bench/summaries/: run \`npm run bench:report\``,
      );
      stale++;
    }
  } else if (old !== text) {
    fs.writeFileSync(file, text);
    console.error(`wrote bench/${rel}`);
  }
}
process.exit(stale ? 1 : 0);
