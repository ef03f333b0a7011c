// Timers, statistics, event-loop probe and (recall, QPS) interpolation.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';

/** Monotonic time in milliseconds (float). */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Monotonic time in nanoseconds (bigint). */
export function nowNs() {
  return process.hrtime.bigint();
}

export function median(values) {
  return percentile(values, 50);
}

/** Linear-interpolated percentile (p in 0..100) of a numeric array. */
export function percentile(values, p) {
  if (!values.length) return null;
  const s = Float64Array.from(values).sort();
  const pos = ((s.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function mean(values) {
  if (!values.length) return null;
  let t = 0;
  for (const v of values) t += v;
  return t / values.length;
}

/** Force a full GC if the process runs with --expose-gc (workers always do). */
export function gc() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
}

export function rssBytes() {
  return process.memoryUsage().rss;
}

/** Peak RSS of this process so far, bytes (getrusage maxrss). */
export function maxRssBytes() {
  return process.resourceUsage().maxRSS * 1024;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `fn` (sync or async) while watching the event loop with two probes:
 *  - perf_hooks.monitorEventLoopDelay({ resolution: 1 }) -> histogram max
 *  - a setInterval(..., 1) probe recording the largest gap between ticks
 * Both numbers are raw gaps in ms, i.e. they include the 1 ms timer period
 * (an idle loop reads ~1.0-1.3 ms); the true "block" is roughly value - 1 ms.
 */
export async function withLoopProbe(fn) {
  const hist = monitorEventLoopDelay({ resolution: 1 });
  let last = process.hrtime.bigint();
  let maxGap = 0n;
  let ticks = 0;
  const timer = setInterval(() => {
    const t = process.hrtime.bigint();
    const gap = t - last;
    if (gap > maxGap) maxGap = gap;
    last = t;
    ticks++;
  }, 1);
  hist.enable();
  // let both probes arm before the workload starts
  await sleep(5);
  last = process.hrtime.bigint();
  maxGap = 0n;
  hist.reset();
  const t0 = nowMs();
  let result;
  let probe;
  let callMs = null;
  try {
    // The synchronous part: how long the call itself holds the JS thread before it returns
    // its promise (validation, argument conversion, queueing the native work).
    const pending = fn();
    callMs = nowMs() - t0;
    result = await pending;
  } finally {
    const elapsedMs = nowMs() - t0;
    // one more tick so a block at the very end is observed by both probes
    await sleep(3);
    hist.disable();
    clearInterval(timer);
    probe = {
      elapsedMs,
      callMs,
      histMaxMs: hist.max / 1e6,
      histP99Ms: hist.percentile(99) / 1e6,
      histMeanMs: hist.mean / 1e6,
      intervalMaxGapMs: Number(maxGap) / 1e6,
      intervalTicks: ticks,
    };
    probe.maxMs = Math.max(probe.histMaxMs, probe.intervalMaxGapMs);
  }
  return { result, probe };
}

/**
 * QPS at a recall target by linear interpolation between the two consecutive
 * sweep points (in ef order) that bracket the target.
 *  - first point already >= target: its QPS (a lower bound), flagged 'at-first-point'
 *  - never reached: null
 * points: [{ ef, recall, qps }] (any order; sorted by ef here)
 */
export function qpsAtRecall(points, target) {
  const pts = [...points].filter((p) => p.recall != null && p.qps != null).sort((a, b) => a.ef - b.ef);
  if (!pts.length) return null;
  if (pts[0].recall >= target) return { qps: pts[0].qps, ef: pts[0].ef, note: 'at-first-point' };
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i];
    const b = pts[i + 1];
    if (a.recall < target && b.recall >= target) {
      const t = (target - a.recall) / (b.recall - a.recall);
      return { qps: a.qps + t * (b.qps - a.qps), ef: a.ef + t * (b.ef - a.ef), between: [a.ef, b.ef] };
    }
  }
  return null;
}

/** Smallest sweep ef whose recall is >= target (null if none). */
export function efForRecall(points, target) {
  const pts = [...points].sort((a, b) => a.ef - b.ef);
  for (const p of pts) if (p.recall >= target) return p.ef;
  return null;
}

/** recall@k of result ids (row-major, k per query) against ground truth (gtK per row). */
export function recallAtK(resultIds, gt, gtK, k, nq) {
  let hits = 0;
  for (let q = 0; q < nq; q++) {
    const g = q * gtK;
    const r = q * k;
    for (let i = 0; i < k; i++) {
      const id = resultIds[r + i];
      for (let j = 0; j < k; j++) {
        if (gt[g + j] === id) {
          hits++;
          break;
        }
      }
    }
  }
  return hits / (nq * k);
}

export function fmtBytes(b) {
  if (b == null) return 'n/a';
  const mib = b / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(2)} GiB` : `${mib.toFixed(1)} MiB`;
}

/**
 * Share of the whole machine's CPU time that was busy during `ms` (Linux /proc/stat;
 * null elsewhere). Sampled in the parent while no benchmark child runs, it tells
 * whether something else (a compile, another benchmark) was competing for the cores.
 */
export async function backgroundCpuBusy(ms = 1000) {
  const read = async () => {
    const fs = await import('node:fs');
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = line[3] + (line[4] || 0);
    const total = line.reduce((a, b) => a + b, 0);
    return { idle, total };
  };
  try {
    const a = await read();
    await sleep(ms);
    const b = await read();
    const dt = b.total - a.total;
    return dt > 0 ? 1 - (b.idle - a.idle) / dt : null;
  } catch {
    return null;
  }
}

/** Cumulative busy CPU seconds of the whole machine (all cores), Linux only (null elsewhere). */
export function machineBusySeconds() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = line[3] + (line[4] || 0);
    const total = line.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
    return (total - idle) / 100; // USER_HZ = 100 on Linux
  } catch {
    return null;
  }
}
