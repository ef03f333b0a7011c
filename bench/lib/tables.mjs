// Table layouts of bench/RESULTS.md, shared by the renderer (bench/render.mjs), the figure check
// (scripts/check-figures.mjs) and the benchmark scripts that write summaries.
//
// A summary table is an array of rows; each row is an object with an `id` (unique in its table,
// used by figure references such as `quant:fashion-mnist/modes/quiver-sq8/qps`) and the figures
// as plain numbers or strings, in the units the table prints. A layout gives the markdown header,
// the separator and one cell template per column:
//   {field:fmt}   the field formatted: c<d> (grouped thousands, d decimals), f<d> (toFixed(d)),
//                 sign (+/-, 4 decimals), s (as is), pass (PASS/FAIL), bpass (**PASS**/**FAIL**),
//                 date (the YYYY-MM-DD of an ISO timestamp)
//   {field?text}  `text` when the field is truthy
// A cell whose fields are all null prints the column's `none` (default '—'). A row may carry
// `digits: { field: d }` where it is printed with other decimals than its column.

/** @type {Record<string, { head: string, sep: string, cols: (string | { t: string, none: string })[] }>} */
export const LAYOUTS = {
  'ann.summary': {
    head: '| measure | target | fashion-mnist | synthetic |',
    sep: '| --- | --- | --- | --- |',
    cols: [],
  }, // rendered by joinTargets()
  'ann.ratios': {
    head: '| dataset | recall ≥ | ours QPS | hnswlib-node QPS | usearch QPS | ours / hnswlib-node | ours / usearch |',
    sep: '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    cols: [
      '{dataset:s}',
      '{target:f2}',
      n('{ours:c0}{oursFirst? (≥)}', 'n/a'),
      n('{hnswlib:c0}{hnswlibFirst? (≥)}', 'n/a'),
      n('{usearch:c0}{usearchFirst? (≥)}', 'n/a'),
      n('{vsHnswlib:f2}×', 'n/a'),
      n('{vsUsearch:f2}×', 'n/a'),
    ],
  },
  'ann.sweep': {
    head: '| ef | quiver-search recall | quiver-search QPS | hnswlib-node recall | hnswlib-node QPS | usearch recall | usearch QPS | Δrecall vs hnswlib |',
    sep: '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    cols: [
      '{ef:c0}',
      n('{ours:f4}', ''),
      n('{oursQps:c0}', ''),
      n('{hnswlib:f4}', ''),
      n('{hnswlibQps:c0}', ''),
      n('{usearch:f4}', ''),
      n('{usearchQps:c0}', ''),
      n('{diff:sign}', ''),
    ],
  },
  'ann.qpsAt': {
    head: '| recall ≥ | quiver-search | hnswlib-node | usearch | ours / hnswlib-node | ours / usearch |',
    sep: '| --- | ---: | ---: | ---: | ---: | ---: |',
    cols: [
      '{target:f2}',
      n('{ours:c0}{oursFirst? (≥, first point)}', 'n/a'),
      n('{hnswlib:c0}{hnswlibFirst? (≥, first point)}', 'n/a'),
      n('{usearch:c0}{usearchFirst? (≥, first point)}', 'n/a'),
      n('{vsHnswlib:f2}×', 'n/a'),
      n('{vsUsearch:f2}×', 'n/a'),
    ],
  },
  'ann.build': {
    head: '| library | threads | build time | RSS growth (build) | memoryUsage() | index file | peak RSS (process) |',
    sep: '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    cols: [
      '{library:s}',
      '{threads:c0}',
      '{buildS:f2} s',
      '{rssMiB:f1} MiB',
      n('{memoryUsageMiB:f1} MiB'),
      n('{fileMiB:f1} MiB'),
      '{peakRssMiB:f1} MiB',
    ],
  },
  'ann.extras': { head: '| measure | value |', sep: '| --- | ---: |', cols: ['{measure:s}', '{value:s}'] },
  'ann.targets': {
    head: '| measure | target | measured | result |',
    sep: '| --- | ---: | ---: | ---: |',
    cols: ['{measure:s}', '{target:s}', '{measured:s}', '{pass:pass}'],
  },
  'quant.modes': {
    head: '| mode | bytes/vector hot (codes + graph + keys) | bytes/vector originals | build s | train s | QPS @ recall≥0.95 (ef) | × hnswlib-node | × quiver f32 | best recall@10 |',
    sep: '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    cols: [
      '{mode:s}',
      n('{hotBytes:c0}'),
      n('{originalsBytes:c0}'),
      '{buildS:c1}',
      n('{trainS:c2}'),
      n('{qps:c0} ({ef:c0})', 'not reached'),
      n('{vsHnswlib:c2}'),
      n('{vsF32:c2}'),
      '{bestRecall:c3}',
    ],
  },
  'quant.flat': {
    head: '| scan | ms/query | vectors/s | × f32 flat | recall@10 |',
    sep: '|---|---:|---:|---:|---:|',
    cols: ['{scan:s}', '{msPerQuery:c3}', '{mVectorsPerS:c1} M', '{vsF32:c2}', '{recall:c3}'],
  },
  'quant.mmap': {
    head: '| mode | hot memory (codes + graph + keys) | × f32 index memory | QPS @ recall≥0.95 (ef) | best recall@10 |',
    sep: '|---|---:|---:|---:|---:|',
    cols: ['{mode:s}', '{hotMiB:c1} MiB', '{vsF32:c3}', n('{qps:c0} ({ef:c0})', 'not reached'), '{bestRecall:c3}'],
  },
  'hybrid.quality': {
    head: '| retrieval (SciFact test, 300 queries) | nDCG@10 | recall@100 |',
    sep: '|---|---:|---:|',
    cols: ['{retrieval:s}', '{ndcg10:f4}', '{recall100:f4}'],
  },
  'hybrid.engines': {
    head: '| BM25 engine (same run) | index build | docs/s | query p50 | query p99 | × p50 vs quiver (BMM) | nDCG@10 |',
    sep: '|---|---:|---:|---:|---:|---:|---:|',
    cols: [
      '{engine:s}',
      n('{buildMs:f0} ms', ''),
      n('{docsPerS:f0}', ''),
      '{p50Us:f1} µs',
      '{p99Us:f1} µs',
      '{vsQuiverP50:f1}',
      n('{ndcg10:f4}'),
    ],
  },
  'pq.faiss': {
    head: '| data | m, nbits | MSE faiss | MSE quiver | ratio | recall@10 no rerank, faiss | quiver | train faiss (1 thread) | quiver (2 threads) |',
    sep: '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    cols: [
      '{data:s}',
      '{m:c0}, {nbits:c0}',
      '{mseFaiss:c0}',
      '{mseQuiver:c0}',
      '**{ratio:f2}**',
      '{recallFaiss:f4}',
      '{recallQuiver:f4}',
      '{trainFaissS:f1} s',
      '{trainQuiverS:f1} s',
    ],
  },
  'muvera.configs': {
    head: '| FDE config | FDE dim | build s | KiB/doc (FDE index + tokens) | C for recall@10 ≥ 0.95 | recall@10 @ C | ms/query @ C (encode / search / rerank) | × faster than exhaustive | C for recall@100 = 0.9 | nDCG@10 @ C |',
    sep: '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    cols: [
      '{config:s}',
      '{fdeDim:f0}',
      '{buildS:f1}',
      '{kibPerDoc:f1} ({kibFde:f1} + {kibTokens:f1})',
      n('{candidates:f0}', 'not reached'),
      n('{recall10:f3}'),
      n('{ms:f2} ({encodeMs:f2} / {searchMs:f2} / {rerankMs:f2})'),
      n('{vsExhaustive:f1}'),
      n('{candidatesRecall100:f0}'),
      n('{ndcg10:f4}'),
    ],
  },
  'muvera.sweep': {
    head: '| candidates | recall@10 | recall@100 | ms/query | nDCG@10 |',
    sep: '|---:|---:|---:|---:|---:|',
    cols: ['{candidates:f0}', '{recall10:f3}', n('{recall100:f3}'), '{ms:f2}', '{ndcg10:f4}'],
  },
  'muvera.heuristic': {
    head: '| tokens per query token | candidates (docs) | recall@10 | recall@100 | ms/query |',
    sep: '|---:|---:|---:|---:|---:|',
    cols: ['{tokensPerQueryToken:f0}', '{candidates:f0}', '{recall10:f3}', '{recall100:f3}', '{ms:f1}'],
  },
  'muvera.collections': {
    head: '| collection | setup | docs | tokens/doc | k | FDE codes trained | KiB/doc (FDE index + tokens) | recall@k vs exhaustive MaxSim | ms/query (exhaustive) | × faster than exhaustive | nDCG@10 |',
    sep: '|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    cols: [
      '{what:s}',
      '{setup:s}',
      '{docs:c0}',
      '{tokensPerDoc:f1}',
      '{k:f0}',
      '{trained:s}',
      '{kibFde:f1} + {kibTokens:f1}',
      '**{recall:f3}**',
      '{ms:f2} ({exhaustiveMs:f1})',
      '{vsExhaustive:f1}',
      n('{ndcg10:f4}'),
    ],
  },
  'muvera.sq8': {
    head: '| FDE config | KiB/doc (FDE index + tokens) | candidates | recall@10 vs f16 exhaustive | recall@100 | ms/query (encode / search / rerank) | × faster than f16 exhaustive | nDCG@10 |',
    sep: '|---|---:|---:|---:|---:|---:|---:|---:|',
    cols: [
      '{config:s}',
      n('{kibPerDoc:f1}', ''),
      '{candidates:f0}',
      '{recall10:f3}',
      '{recall100:f3}',
      '{ms:f2} ({encodeMs:f2} / {searchMs:f2} / {rerankMs:f2})',
      '{vsExhaustive:f0}',
      '{ndcg10:f4}',
    ],
  },
  'filter.workloads': {
    head: '| filter | rows matched (mean) | quiver auto: QPS (ef) | recall@10 | p99 ms | distances/query | plans chosen | hnswlib-node, JS callback: QPS (ef) | recall@10 | p99 ms | usearch, post-filter: QPS (ef = k′) | recall@10 | JS prefilter + exact scan: QPS | quiver / hnswlib-node | quiver / JS prefilter |',
    sep: '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    cols: [
      '{filter:s}',
      '{matched:c0}',
      '{oursQps:c0} ({oursEf:c0}){oursMiss? ✗}{oursSubset:s}',
      '{oursRecall:f4}',
      '{oursP99:f3}',
      '{oursDistances:c0}',
      '{plans:s}',
      n('{hnswlibQps:c0} ({hnswlibEf:c0}){hnswlibMiss? ✗}{hnswlibSubset:s}'),
      n('{hnswlibRecall:f4}'),
      n('{hnswlibP99:f3}'),
      n('{usearchQps:c0} ({usearchEf:c0}){usearchMiss? ✗}{usearchSubset:s}'),
      n('{usearchRecall:f4}'),
      n('{jsQps:c0}{jsSubset:s}'),
      n('{vsHnswlib:c1}×'),
      n('{vsJs:c1}×'),
    ],
  },
  'filter.strategies': {
    head: '| filter | ef | filterStrategy | plans | recall@10 | QPS | p99 ms | distances/query | queries |',
    sep: '|---|---:|---|---|---:|---:|---:|---:|---:|',
    cols: [
      '{filter:s}',
      '{ef:c0}',
      '{strategy:s}',
      '{plans:s}',
      '{recall:f4}',
      '{qps:c0}',
      '{p99:f3}',
      '{distances:c0}',
      '{queries:c0}',
    ],
  },
  'filter.build': {
    head: '| engine | threads | build time (with attributes for quiver) |',
    sep: '|---|---:|---:|',
    cols: ['{engine:s}', '{threads:c0}', '{buildS:c1} s'],
  },
  'filter.targets': {
    head: '| measure | target | measured | result |',
    sep: '| --- | ---: | ---: | ---: |',
    cols: ['{measure:s}', '{target:s}', '{measured:s}', '{pass:pass}'],
  },
  'service.load': {
    head: '| phase | engine | connections | req/s | p50 ms | p99 ms | health max ms | event loop max ms | server cores busy | upsert p50 ms | upsert p99 ms | errors |',
    sep: '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    cols: [
      '{phase:s}',
      '{engine:s}',
      '{connections:c0}',
      '{reqPerSec:c0}',
      '{p50:f1}',
      '{p99:f1}',
      '{healthMax:f1}',
      '{eventLoopMax:f1}',
      '{serverCores:f2}',
      '{upsertP50:f1}',
      '{upsertP99:f1}',
      '{errors:c0}',
    ],
  },
  'writes.sizes': {
    head: '| engine | 100 vectors into 20k rows, ms | into 100k rows, ms | into 300k rows, ms | 300k / 20k |',
    sep: '| --- | ---: | ---: | ---: | ---: |',
    cols: ['{engine:s}', '{small:f2}', '{middle:f2}', '{large:f2}', '{growth:f2}×'],
  },
  'service.targets': {
    head: '| measure | target | value | result |',
    sep: '| --- | --- | ---: | --- |',
    cols: ['{measure:s}', '{target:s}', '{value:f2}', '{pass:bpass}'],
  },
  'locks.waits': {
    head: '| write threads | writes running | lock acquisitions | p50 µs | p99.9 µs | longest, ms |',
    sep: '| ---: | --- | ---: | ---: | ---: | ---: |',
    cols: ['{threads:c0}', '{phase:s}', '{acquisitions:c0}', '{p50Us:f1}', '{p999Us:f1}', '{maxMs:f3}'],
  },
  'locks.targets': {
    head: '| measure | target | value | result |',
    sep: '| --- | --- | ---: | --- |',
    cols: ['{measure:s}', '{target:s}', '{value:f3}', '{pass:bpass}'],
  },
  'writes.targets': {
    head: '| measure | target | value | result |',
    sep: '| --- | --- | ---: | --- |',
    cols: ['{measure:s}', '{target:s}', '{value:f2}', '{pass:bpass}'],
  },
};

/** Row ids: how each table names its rows (stable keys for figure references). */
export const ROW_ID = {
  'ann.ratios': (r) => `${r.dataset}-${r.target.toFixed(2)}`,
  'ann.sweep': (r) => String(r.ef),
  'ann.qpsAt': (r) => r.target.toFixed(2),
  'ann.build': (r) => `${slug(r.library)}-t${r.threads}`,
  'ann.extras': (r) => slug(r.measure),
  'ann.targets': (r) => slug(r.measure),
  'quant.modes': (r) => slug(r.mode.replace(/^quiver /, '')),
  'quant.flat': (r) => slug(r.scan),
  'quant.mmap': (r) => slug(r.mode),
  'hybrid.quality': (r) => slug(r.retrieval),
  'hybrid.engines': (r) => slug(r.engine),
  'pq.faiss': (r) => slug(r.data.split(' ')[0]),
  'muvera.configs': (r) => r.config,
  'muvera.sweep': (r) => String(r.candidates),
  'muvera.heuristic': (r) => String(r.tokensPerQueryToken),
  'muvera.sq8': (r) => `${r.config}-${r.candidates}`,
  'muvera.collections': (r) => `${r.collection}-${slug(r.setup)}-k${r.k}`,
  'filter.workloads': (r) => r.filter,
  'filter.strategies': (r) => `${r.filter}-${r.strategy}`,
  'filter.build': (r) => slug(r.engine),
  'filter.targets': (r) => slug(r.measure),
  'service.load': (r) => `${r.phase}-${r.engine}-${r.connections}`,
  'service.targets': (r) => slug(r.measure),
  'writes.sizes': (r) => slug(r.engine),
  'writes.targets': (r) => slug(r.measure),
  'locks.waits': (r) => `t${r.threads}-${slug(r.phase)}`,
  'locks.targets': (r) => slug(r.measure),
};

function n(t, none = '—') {
  return { t, none };
}

export function slug(s) {
  return String(s)
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

const PLACE = /\{(\w+)(?::(\w+)|\?([^}]*))?\}/g;

/** Formats one value with a format name (c2, f4, sign, s, pass, bpass). */
export function formatValue(v, fmt = 's', digits) {
  if (v === null || v === undefined) return '';
  if (fmt === 'date') return String(v).slice(0, 10);
  if (typeof v === 'string' || fmt === 's') return String(v);
  if (fmt === 'pass') return v ? 'PASS' : 'FAIL';
  if (fmt === 'bpass') return v ? '**PASS**' : '**FAIL**';
  if (fmt === 'sign') {
    const x = Number(v.toFixed(4));
    return (x >= 0 ? '+' : '') + (x === 0 ? 0 : x).toFixed(4);
  }
  const d = digits ?? Number(fmt.slice(1));
  if (fmt[0] === 'c') return Number(v).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  if (fmt[0] === 'f') return Number(v).toFixed(d);
  throw new Error(`unknown format ${fmt}`);
}

/** Renders one cell template for a row. */
export function renderCell(col, row) {
  const t = typeof col === 'string' ? col : col.t;
  const fields = [...t.matchAll(PLACE)].filter((m) => m[3] === undefined).map((m) => m[1]);
  if (fields.length && fields.every((f) => row[f] === null || row[f] === undefined))
    return typeof col === 'string' ? '—' : col.none;
  return t.replace(PLACE, (_, f, fmt, cond) =>
    cond !== undefined ? (row[f] ? cond : '') : formatValue(row[f], fmt, row.digits?.[f]),
  );
}

/** The markdown table for a layout and its rows. */
export function renderTable(kind, rows) {
  const L = LAYOUTS[kind];
  if (!L) throw new Error(`no table layout ${kind}`);
  return [
    L.head,
    L.sep,
    ...rows.map(
      (r) =>
        `|${L.cols
          .map((c) => renderCell(c, r))
          .map((c) => (c === '' ? ' ' : ` ${c} `))
          .join('|')}|`,
    ),
  ].join('\n');
}

/** Splits a markdown table row into its cells. */
export function splitRow(line) {
  return line
    .slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

/** Parses one rendered cell back into fields (used to turn a printed table into a summary). */
export function parseCell(col, cell) {
  const t = typeof col === 'string' ? col : col.t;
  const none = typeof col === 'string' ? '—' : col.none;
  const ph = [...t.matchAll(PLACE)];
  const out = {};
  if (cell === none && ph.some((m) => m[3] === undefined)) {
    for (const m of ph) out[m[1]] = m[3] === undefined ? null : false;
    return out;
  }
  let re = '';
  let last = 0;
  for (const m of ph) {
    re += esc(t.slice(last, m.index)) + (m[3] !== undefined ? `(${esc(m[3])})?` : '(.*?)');
    last = m.index + m[0].length;
  }
  re += esc(t.slice(last));
  const mm = new RegExp(`^${re}$`).exec(cell);
  if (!mm) throw new Error(`cell ${JSON.stringify(cell)} does not match ${JSON.stringify(t)}`);
  ph.forEach((m, i) => {
    const raw = mm[i + 1];
    const fmt = m[2] ?? 's';
    if (m[3] !== undefined) out[m[1]] = raw !== undefined;
    else if (fmt === 's') out[m[1]] = raw;
    else if (fmt === 'pass' || fmt === 'bpass') out[m[1]] = /PASS/.test(raw);
    else {
      const num = Number(raw.replace(/,/g, ''));
      if (Number.isNaN(num) || raw === '') out[m[1]] = raw === '' ? null : raw;
      else {
        out[m[1]] = num;
        const dec = (raw.split('.')[1] ?? '').length;
        if (/^[cf]\d$/.test(fmt) && dec !== Number(fmt.slice(1))) (out.digits ??= {})[m[1]] = dec;
      }
    }
  });
  return out;
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Cell-level formatter of a field in a table layout (for figure references). */
export function fieldFormat(kind, field) {
  for (const c of LAYOUTS[kind]?.cols ?? []) {
    const t = typeof c === 'string' ? c : c.t;
    for (const m of t.matchAll(PLACE)) if (m[1] === field && m[3] === undefined) return m[2] ?? 's';
  }
  return null;
}

/** Builds a row with its id first and fields in layout order (deterministic JSON). */
export function makeRow(kind, fields) {
  const row = { id: ROW_ID[kind](fields) };
  for (const c of LAYOUTS[kind].cols) {
    const t = typeof c === 'string' ? c : c.t;
    for (const m of t.matchAll(PLACE))
      if (!(m[1] in row)) row[m[1]] = fields[m[1]] ?? (m[3] !== undefined ? false : null);
  }
  if (fields.digits && Object.keys(fields.digits).length) row.digits = fields.digits;
  return row;
}
