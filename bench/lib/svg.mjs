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
