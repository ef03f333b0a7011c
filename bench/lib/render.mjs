// Renders bench/RESULTS.md and the recall/QPS plots from the committed summaries
// (bench/summaries/*.json) and the text around them (bench/templates/RESULTS.md).
//
// Template directives (each figure comes from a summary, by path):
//   {{table KIND SRC [SRC...]}}   a whole line: the table layout KIND (bench/lib/tables.mjs) over
//                                 the rows at SRC (several sources are concatenated; a row gets
//                                 `dataset` from its source's first path segment)
//   {{join-targets SRC SRC}}      the cross-dataset target table of the peer benchmark
//   {{SRC}} / {{SRC|fmt}}         one value, formatted (c<d>, f<d>, s)
// A SRC is `summary:path/to/value`: the summary file name without .json, then keys; an array
// is entered by a row id, e.g. quant:fashion-mnist/modes/sq8/qps.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAYOUTS, renderTable, formatValue, fieldFormat } from './tables.mjs';
import { serviceSvg, svgForResult } from './svg.mjs';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SUMMARY_DIR = path.join(BENCH_DIR, 'summaries');
export const TEMPLATE = path.join(BENCH_DIR, 'templates', 'RESULTS.md');
/** Summary file → layout prefix of its tables. */
export const LAYOUT_PREFIX = {
  ann: 'ann',
  quant: 'quant',
  hybrid: 'hybrid',
  'pq-faiss': 'pq',
  muvera: 'muvera',
  'muvera-sq8': 'muvera',
  'muvera-defaults': 'muvera',
  filter: 'filter',
  service: 'service',
  writes: 'writes',
  locks: 'locks',
};
const LABELS = { ours: 'quiver-search', hnswlib: 'hnswlib-node', usearch: 'usearch' };

export function loadSummaries(dir = SUMMARY_DIR) {
  const out = {};
  for (const f of fs
    .readdirSync(dir)
    .filter((x) => x.endsWith('.json'))
    .sort())
    out[f.slice(0, -5)] = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  return out;
}

/** Resolves `summary:a/b/c` to { value, kind, field } (kind: the table layout when inside a table). */
export function resolve(summaries, src) {
  const [file, p = ''] = src.split(':');
  let cur = summaries[file];
  if (cur === undefined) throw new Error(`${src}: no summary bench/summaries/${file}.json`);
  let kind = null;
  let field = null;
  for (const seg of p.split('/').filter(Boolean)) {
    if (Array.isArray(cur)) {
      const row = cur.find((r) => r.id === seg);
      if (!row) throw new Error(`${src}: no row ${seg}`);
      cur = row;
    } else if (cur && typeof cur === 'object' && seg in cur) {
      if (Array.isArray(cur[seg])) kind = `${LAYOUT_PREFIX[file]}.${seg}`;
      field = seg;
      cur = cur[seg];
    } else throw new Error(`${src}: no key ${seg}`);
  }
  return { value: cur, kind: kind && LAYOUTS[kind] ? kind : null, field };
}

/** The text a figure reference prints: the table's own format, or `fmt`, or as is. */
export function figureText(summaries, src, fmt) {
  const { value, kind, field } = resolve(summaries, src);
  if (Array.isArray(value)) return value.join(', ');
  const f = fmt ?? (kind ? fieldFormat(kind, field) : null) ?? 's';
  const row = kind ? resolve(summaries, src.slice(0, src.lastIndexOf('/'))).value : null;
  return formatValue(value, f, row?.digits?.[field]);
}

function joinTargets(summaries, srcs) {
  const tables = srcs.map((s) => resolve(summaries, s).value);
  const L = LAYOUTS['ann.summary'];
  const lines = [L.head, L.sep];
  for (const row of tables[0]) {
    const cells = tables.map((t) => {
      const x = t.find((r) => r.id === row.id);
      return x ? `**${x.pass ? 'PASS' : 'FAIL'}** ${x.measured}` : 'n/a';
    });
    lines.push(`| ${row.measure} | ${row.target} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function renderResults(summaries, template = fs.readFileSync(TEMPLATE, 'utf8')) {
  const out = [];
  for (const line of template.split('\n')) {
    let m = /^\{\{table (\S+) (.+)\}\}$/.exec(line);
    if (m) {
      const rows = m[2].split(' ').flatMap((src) => {
        const ds = src.split(':')[1].split('/')[0];
        return resolve(summaries, src).value.map((r) => ({ dataset: ds, ...r }));
      });
      out.push(renderTable(m[1], rows));
      continue;
    }
    m = /^\{\{join-targets (.+)\}\}$/.exec(line);
    if (m) {
      out.push(joinTargets(summaries, m[1].split(' ')));
      continue;
    }
    out.push(line.replace(/\{\{([\w-]+:[^}|]*)(?:\|(\w+))?\}\}/g, (_, src, fmt) => figureText(summaries, src, fmt)));
  }
  return out.join('\n');
}

/** The recall/QPS plot of one dataset of the peer benchmark, from its summary. */
export function svgFor(summaries, dataset) {
  const s = summaries.ann[dataset];
  const libs = {};
  for (const l of ['ours', 'hnswlib', 'usearch']) {
    const pts = s.sweep.filter((r) => r[l] != null).map((r) => ({ ef: r.ef, recall: r[l], qps: r[`${l}Qps`] }));
    if (pts.length) libs[l] = { sweep: pts };
  }
  const res = {
    libs,
    versions: s.versions,
    dataset: {
      name: dataset,
      nBase: s.dataset.nBase,
      dim: s.dataset.dim,
      metric: s.dataset.metric,
      nQuery: s.dataset.nQuery,
      k: s.dataset.k,
    },
    machine: { cpuModel: s.machine.cpu, cpus: s.machine.cores, node: s.machine.node },
    mode: 'full',
  };
  return svgForResult(res, LABELS);
}

/** Every file the renderer owns, path (relative to bench/) → content. */
export function renderAll(summaries = loadSummaries()) {
  const files = { 'RESULTS.md': renderResults(summaries) };
  for (const ds of Object.keys(summaries.ann ?? {}).filter((k) => summaries.ann[k]?.sweep))
    files[`recall-qps-${ds}.svg`] = svgFor(summaries, ds);
  if (summaries.service?.service) files['service-load.svg'] = serviceSvg(summaries.service.service);
  return files;
}
