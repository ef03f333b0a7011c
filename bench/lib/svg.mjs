// The peer benchmark's recall/QPS plot: one line per library, in fixed colours and markers,
// our sweep points labelled with their ef. The plotting itself is the package's own
// (bin/lib/svg.mjs, also used by `quiver-search bench --svg`).
import { recallQpsSvg } from '../../bin/lib/svg.mjs';

const COLORS = { ours: '#d62728', hnswlib: '#1f77b4', usearch: '#2ca02c' };
const MARKERS = { ours: 'circle', hnswlib: 'square', usearch: 'triangle' };

/** The recall/QPS plot for one dataset's result object (as written by run.mjs). */
export function svgForResult(res, labels) {
  const libs = res.libs;
  const series = ['ours', 'hnswlib', 'usearch']
    .filter((l) => libs[l] && !libs[l].error && libs[l].sweep)
    .map((l) => ({
      key: l,
      label: `${labels[l]} ${res.versions[labels[l]] ?? ''}`.trim(),
      points: libs[l].sweep,
      color: COLORS[l],
      marker: MARKERS[l],
      labelEf: l === 'ours',
    }));
  const ds = res.dataset;
  const m = res.machine;
  return recallQpsSvg({
    title: `${ds.name}: recall@${ds.k} vs single-thread QPS${res.mode === 'quick' ? ' (quick mode)' : ''}`,
    subtitle: `${ds.nBase.toLocaleString('en-US')} × ${ds.dim}, ${ds.metric}, ${ds.nQuery.toLocaleString('en-US')} queries, M=16, efC=200 — ${m.cpuModel}, ${m.cpus} cores, Node ${m.node}`,
    k: ds.k,
    series,
  });
}

const ENGINE_COLORS = {
  'quiver-async': '#d62728',
  'quiver-sync': '#ff7f0e',
  'quiver-sq8': '#9467bd',
  hnswlib: '#1f77b4',
  usearch: '#2ca02c',
};
const escXml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The service benchmark's plot: read req/s (y) against connections (x, one slot per measured
 * count) for each engine, one panel per phase (read-only, mixed, heavy writer).
 */
export function serviceSvg(s) {
  const phases = ['read', 'mixed', 'heavy'].filter((p) => s.load.some((r) => r.phase === p));
  const titles = {
    read: 'searches only',
    mixed: '+ 100 vectors / 100 ms, save / 10 s',
    heavy: '+ 1,000 vectors / 100 ms, save / 10 s',
  };
  const engines = [...new Set(s.load.map((r) => r.engine))];
  const conns = [...new Set(s.load.filter((r) => r.phase !== 'cluster').map((r) => r.connections))].sort(
    (a, b) => a - b,
  );
  const yMax = Math.max(...s.load.filter((r) => phases.includes(r.phase)).map((r) => r.reqPerSec)) * 1.1;
  const W = 300 * phases.length + 100;
  const H = 420;
  const top = 70;
  const ph = 270;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">A fastify service: search req/s by connections (${s.dataset.n.toLocaleString('en-US')} × ${s.dataset.dim}, ${s.dataset.metric}, ef ${s.dataset.ef})</text>`,
    `<text x="${W / 2}" y="44" text-anchor="middle" fill="#444">${escXml(`${s.machine.cores}-core ${s.machine.cpu}, Node ${s.machine.node}, autocannon in a second process, ${s.date.slice(0, 10)}`)}</text>`,
  ];
  const step = Math.pow(10, Math.floor(Math.log10(yMax / 4)));
  const tick = [1, 2, 5, 10].map((m) => m * step).find((t) => yMax / t <= 6);
  phases.forEach((phase, pi) => {
    const x0 = 70 + pi * 300;
    const pw = 240;
    const X = (i) => x0 + (conns.length === 1 ? pw / 2 : (i / (conns.length - 1)) * pw);
    const Y = (v) => top + ph - (v / yMax) * ph;
    out.push(
      `<text x="${x0 + pw / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">${escXml(titles[phase])}</text>`,
    );
    for (let v = 0; v <= yMax; v += tick) {
      out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#e3e3e3"/>`);
      if (pi === 0)
        out.push(
          `<text x="${x0 - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${v.toLocaleString('en-US')}</text>`,
        );
    }
    conns.forEach((c, i) =>
      out.push(`<text x="${X(i).toFixed(1)}" y="${top + ph + 18}" text-anchor="middle">${c}</text>`),
    );
    out.push(`<text x="${x0 + pw / 2}" y="${top + ph + 38}" text-anchor="middle">connections</text>`);
    for (const e of engines) {
      const pts = conns
        .map((c, i) => [i, s.load.find((r) => r.phase === phase && r.engine === e && r.connections === c)])
        .filter(([, r]) => r);
      if (!pts.length) continue;
      const color = ENGINE_COLORS[e] ?? '#555';
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([i, r]) => `${X(i).toFixed(1)},${Y(r.reqPerSec).toFixed(1)}`).join(' ')}"/>`,
      );
      for (const [i, r] of pts)
        out.push(`<circle cx="${X(i).toFixed(1)}" cy="${Y(r.reqPerSec).toFixed(1)}" r="3.5" fill="${color}"/>`);
    }
  });
  out.push(
    `<text x="16" y="${top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + ph / 2})">search req/s</text>`,
  );
  engines.forEach((e, i) => {
    const x = 70 + i * 170;
    out.push(`<rect x="${x}" y="${H - 30}" width="14" height="4" fill="${ENGINE_COLORS[e] ?? '#555'}"/>`);
    out.push(`<text x="${x + 20}" y="${H - 24}">${escXml(e)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
