//! Filtered and range search: the planner behind `search` with a `filter` and/or a
//! `maxDistance`, and the plan it reports.
//!
//! A filter is first evaluated to the exact set of matching rows (a bitmap over slots, from
//! the attribute store's per-value bitmaps and ordered numeric indexes; no row is scanned),
//! so the planner knows the match count `c` before it searches. Then, per query:
//!
//! * **exact** when `c` is small (at most [`exact_rows`]): a scan of the matching rows
//!   (f32 originals when the index keeps them, else the codes): recall 1.0 at a cost of `c`
//!   distances, cheaper than any traversal at that size. A flat index always scans.
//! * **acorn** when the filter keeps less than [`ACORN_BELOW`] of the rows: an ACORN-1
//!   traversal of level 0 (rows that fail the filter are looked through to their own
//!   neighbours, only matching rows are scored; see `quiver_hnsw::filtered`), with a pool of
//!   `2 × ef` under `auto`.
//! * **graph** otherwise: the normal traversal, every row routing, only matching rows
//!   entering the results.
//!
//! Under `auto`, both traversals run with a budget of `max(c, 4·ef)` distance computations
//! and fall back to the exact scan when the budget runs out or they return fewer than
//! `min(k, c)` hits, so a filter never costs more than about twice a scan of its rows and never
//! returns short. A forced strategy (`exact`, `acorn`, `graph`) runs as asked, without a
//! budget, which is what tests and benchmarks need to compare them.
//!
//! Quantized indexes traverse their codes for `max(ef, k × oversample)` candidates and rerank
//! them with the f32 originals, as an unfiltered search does.
//!
//! `maxDistance` keeps only hits within that distance (fewer than `k` allowed). On an HNSW
//! index it widens `ef` (doubling) while the candidate pool is full and still within the
//! bound, up to [`RANGE_EF_CAP`]; `Plan::capped` says the cap stopped it.

use quiver_distance::TopK;
use quiver_filter::{Filter, RoaringBitmap};
use quiver_hnsw::{FilterMode, QueryScorer, Scorer};
use std::sync::atomic::AtomicBool;

use crate::config::{search_params, MAX_EF};
use crate::error::{err, Error, Result};
use crate::quantized::CodeScorer;
use crate::scorer::F32Scorer;
use crate::vector_index::{pack_batch, BatchHits, SearchHits, VectorIndex};

/// Below this share of matching rows, `auto` traverses with ACORN instead of the plain graph.
pub const ACORN_BELOW: f64 = 0.3;

/// The largest `ef` a range search widens to.
pub const RANGE_EF_CAP: usize = 4096;

/// Matching rows up to which `auto` scans them exactly: 4,096, or `32 × ef` when that is
/// larger (a traversal at that `ef` computes about as many distances).
pub fn exact_rows(ef: usize) -> usize {
    4096.max(32 * ef)
}

/// How a filtered search may be answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FilterStrategy {
    /// The planner chooses (see the module docs).
    #[default]
    Auto,
    /// Scan the matching rows.
    Exact,
    /// ACORN-1 traversal.
    Acorn,
    /// Plain traversal, matching rows only in the results.
    Graph,
}

impl FilterStrategy {
    /// Parses `auto | exact | acorn | graph`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => FilterStrategy::Auto,
            "exact" => FilterStrategy::Exact,
            "acorn" => FilterStrategy::Acorn,
            "graph" => FilterStrategy::Graph,
            other => {
                return Err(err!(
                    InvalidArgument,
                    "filterStrategy must be 'auto', 'exact', 'acorn' or 'graph', got '{other}'"
                ))
            }
        })
    }
}

/// The path a search took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanKind {
    /// A scan of the matching (or all) rows.
    Exact,
    /// ACORN-1 traversal.
    Acorn,
    /// Plain graph traversal.
    Graph,
}

impl PlanKind {
    /// `exact | acorn | graph`.
    pub fn name(self) -> &'static str {
        match self {
            PlanKind::Exact => "exact",
            PlanKind::Acorn => "acorn",
            PlanKind::Graph => "graph",
        }
    }
}

/// What a filtered or range search did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The path that produced the hits (after any fallback).
    pub strategy: PlanKind,
    /// Rows that match the filter (all live rows without one).
    pub matched: usize,
    /// Distances computed, traversal, scan and rerank together.
    pub distance_computations: usize,
    /// A range search stopped widening at [`RANGE_EF_CAP`] while more hits may lie within
    /// `maxDistance`.
    pub capped: bool,
}

/// A search with the options beyond `k` and `ef`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchRequest<'a> {
    /// Hits wanted.
    pub k: usize,
    /// Candidate pool (default: the index's `efSearch`).
    pub ef: Option<usize>,
    /// Only rows matching this filter.
    pub filter: Option<&'a Filter>,
    /// How to answer a filtered search.
    pub strategy: FilterStrategy,
    /// Only hits at most this distance away.
    pub max_distance: Option<f32>,
    /// Return each hit's attributes (JSON).
    pub include_attributes: bool,
    /// Return each hit's payload (JSON).
    pub include_payload: bool,
}

/// Per-hit metadata requested with `include`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HitMeta {
    /// Attributes of each hit (JSON objects), when requested.
    pub attributes: Option<Vec<Option<String>>>,
    /// Payload of each hit (JSON), when requested.
    pub payloads: Option<Vec<Option<String>>>,
}

/// A batch of filtered/range searches: the hits, one plan per query, and the requested
/// metadata of each query's hits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilteredBatch {
    /// Row-major hits, as for a plain batch.
    pub hits: BatchHits,
    /// One plan per query.
    pub plans: Vec<Plan>,
    /// One entry per query.
    pub meta: Vec<HitMeta>,
}

/// Distances to `slots` by `dist`, the `k` best within `max` (closest first).
fn scan(
    slots: &mut dyn Iterator<Item = u32>,
    k: usize,
    max: f32,
    mut dist: impl FnMut(u32) -> f32,
) -> (Vec<(f32, u32)>, usize) {
    let mut top = TopK::new(k);
    let mut n = 0;
    for s in slots {
        let d = dist(s);
        n += 1;
        if d <= max && d < top.worst() {
            top.push(d, s);
        }
    }
    (top.into_sorted(), n)
}

impl VectorIndex {
    /// Checks `req` and runs it (see the module docs).
    pub fn search_with(&self, query: &[f32], req: &SearchRequest<'_>) -> Result<SearchHits> {
        let (k, ef) = self.check_request(req)?;
        let q = self.prepare_query(query)?;
        Ok(self.search_planned(&q, k, ef, req))
    }

    fn check_request(&self, req: &SearchRequest<'_>) -> Result<(usize, usize)> {
        let (k, ef) = search_params(req.k, req.ef, self.config.ef_search)?;
        if req.max_distance.is_some_and(f32::is_nan) {
            return Err(err!(
                InvalidArgument,
                "maxDistance must be a number, got NaN"
            ));
        }
        if req.include_attributes && !self.meta.has_attributes() {
            return Err(err!(
                InvalidArgument,
                "include 'attributes': this index declares no attributes"
            ));
        }
        if req.include_payload && !self.meta.has_payloads() {
            return Err(err!(
                InvalidArgument,
                "include 'payload': this index was created without `payload: true`"
            ));
        }
        Ok((k, ef))
    }

    /// Rows matching `filter` (all live rows without one), without a search.
    pub fn count(&self, filter: Option<&Filter>) -> usize {
        match filter {
            Some(f) => self.meta.matching(f).len() as usize,
            None => self.len(),
        }
    }

    /// Searches many queries with one request on the index's pool; `filters`, when given,
    /// holds one filter per query (overriding `req.filter`).
    pub fn search_batch_with(
        &self,
        queries: &[f32],
        req: &SearchRequest<'_>,
        filters: Option<&[Filter]>,
        cancel: &AtomicBool,
    ) -> Result<FilteredBatch> {
        let (k, ef) = self.check_request(req)?;
        let n = self.query_count(queries)?;
        if let Some(f) = filters {
            if f.len() != n {
                return Err(err!(
                    InvalidArgument,
                    "{n} queries need {n} filters, got {}",
                    f.len()
                ));
            }
        }
        let rows = self.run_batch(queries, cancel, |i, q| {
            let mut r = *req;
            if let Some(f) = filters.and_then(|f| f.get(i)) {
                r.filter = Some(f);
            }
            self.search_planned(q, k, ef, &r)
        })?;
        let out = pack_batch(&rows, k);
        let plans = rows.iter().filter_map(|r| r.plan).collect();
        let metas = rows.iter().map(|r| self.hit_meta(&r.keys, req)).collect();
        Ok(FilteredBatch {
            hits: out,
            plans,
            meta: metas,
        })
    }

    /// The attributes and payloads `req` asks for, for `keys` (read in the same view as the
    /// search that found them).
    pub fn hit_meta(&self, keys: &[u32], req: &SearchRequest<'_>) -> HitMeta {
        let slot = |k: &u32| self.slot_of.get(k).copied();
        HitMeta {
            attributes: req.include_attributes.then(|| {
                keys.iter()
                    .map(|k| slot(k).and_then(|s| self.meta.attributes_json(s)))
                    .collect()
            }),
            payloads: req.include_payload.then(|| {
                keys.iter()
                    .map(|k| slot(k).and_then(|s| self.meta.payload(s).map(str::to_owned)))
                    .collect()
            }),
        }
    }

    /// A filtered and/or range search of a prepared query (see the module docs).
    pub(crate) fn search_planned(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        req: &SearchRequest<'_>,
    ) -> SearchHits {
        let matched: Option<RoaringBitmap> = req.filter.map(|f| self.meta.matching(f));
        let live = self.len();
        let c = matched.as_ref().map_or(live, |b| b.len() as usize);
        let max = req.max_distance.unwrap_or(f32::INFINITY);
        let mut plan = Plan {
            strategy: PlanKind::Exact,
            matched: c,
            distance_computations: 0,
            capped: false,
        };
        let found = if c == 0 {
            Vec::new()
        } else {
            let choice = match (&self.graph, &matched, req.strategy) {
                (None, _, _) | (_, _, FilterStrategy::Exact) => PlanKind::Exact,
                (Some(_), None, _) | (_, _, FilterStrategy::Graph) => PlanKind::Graph,
                (_, _, FilterStrategy::Acorn) => PlanKind::Acorn,
                (Some(_), Some(_), FilterStrategy::Auto) => {
                    if c <= exact_rows(ef) {
                        PlanKind::Exact
                    } else if (c as f64) < ACORN_BELOW * live as f64 {
                        PlanKind::Acorn
                    } else {
                        PlanKind::Graph
                    }
                }
            };
            let auto = req.strategy == FilterStrategy::Auto;
            let mut found = match choice {
                PlanKind::Exact => None,
                kind => self.traverse(q, k, ef, matched.as_ref(), kind, auto, max, &mut plan),
            };
            if found.as_ref().is_some_and(|f| f.len() < k.min(c)) && auto && max.is_infinite() {
                // Short: tombstones, unreachable rows or a filter the graph cannot route
                // through. Answer exactly rather than short.
                found = None;
            }
            match found {
                Some(f) => f,
                None => {
                    plan.strategy = PlanKind::Exact;
                    self.exact(q, k, matched.as_ref(), max, &mut plan)
                }
            }
        };
        SearchHits {
            keys: found
                .iter()
                .map(|&(_, s)| self.slot_keys[s as usize])
                .collect(),
            distances: found.iter().map(|&(d, _)| d).collect(),
            plan: Some(plan),
        }
    }

    /// Scans the matching rows (every live row without a filter).
    fn exact(
        &self,
        q: &[f32],
        k: usize,
        matched: Option<&RoaringBitmap>,
        max: f32,
        plan: &mut Plan,
    ) -> Vec<(f32, u32)> {
        let flat_all = || 0..self.slot_keys.len() as u32;
        let mut slots: Box<dyn Iterator<Item = u32> + '_> = match (matched, &self.graph) {
            (Some(b), _) => Box::new(b.iter()),
            (None, None) => Box::new(flat_all()),
            (None, Some(g)) => Box::new(flat_all().filter(move |&s| {
                !g.is_deleted(s) && self.slot_of.get(&self.slot_keys[s as usize]) == Some(&s)
            })),
        };
        match &self.quant {
            Some(quant) if !self.has_f32() => {
                // Codes only: estimated distances (what an unfiltered search returns too).
                let scorer = CodeScorer::new(quant, &self.codes, self.config.dim);
                let query = scorer.query(q);
                let (found, n) = scan(&mut slots, k, max, |s| query.distance(s));
                plan.distance_computations += n;
                found
            }
            _ => {
                let scorer =
                    F32Scorer::new(self.store.as_slice(), self.config.dim, self.config.metric);
                // Matching rows lie scattered in the arena, out of reach of the hardware
                // prefetcher: keep the next rows' lines in flight while one is scored.
                const AHEAD: usize = 4;
                let rows: Vec<u32> = slots.collect();
                let lines = (self.config.dim * 4).div_ceil(64);
                for &r in rows.iter().take(AHEAD) {
                    quiver_distance::prefetch(scorer.row(r).as_ptr().cast(), lines);
                }
                let mut i = 0;
                let (found, n) = scan(&mut rows.iter().copied(), k, max, |s| {
                    if let Some(&next) = rows.get(i + AHEAD) {
                        quiver_distance::prefetch(scorer.row(next).as_ptr().cast(), lines);
                    }
                    i += 1;
                    scorer.distance_to(q, s)
                });
                plan.distance_computations += n;
                found
            }
        }
    }

    /// A graph traversal (`kind` is `Acorn` or `Graph`); `None` asks for the exact fallback.
    #[allow(clippy::too_many_arguments)]
    fn traverse(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        matched: Option<&RoaringBitmap>,
        kind: PlanKind,
        auto: bool,
        max: f32,
        plan: &mut Plan,
    ) -> Option<Vec<(f32, u32)>> {
        let graph = self.graph.as_ref()?;
        plan.strategy = kind;
        let mode = if kind == PlanKind::Acorn {
            FilterMode::Acorn
        } else {
            FilterMode::Graph
        };
        let budget = if auto {
            plan.matched.max(4 * ef)
        } else {
            usize::MAX
        };
        // Under auto, ACORN explores twice the pool: its pool admits only matching rows, and
        // when they lie away from the query (a filter anti-correlated with it) a pool of `ef`
        // stops early (measured on Fashion-MNIST with a class filter unrelated to the query:
        // recall@10 0.92 at ef 64, 0.95 at 128).
        let ef = if auto && kind == PlanKind::Acorn {
            (2 * ef).min(crate::config::MAX_EF)
        } else {
            ef
        };
        let accept = |s: u32| matched.is_none_or(|b| b.contains(s));
        match &self.quant {
            None => {
                let scorer =
                    F32Scorer::new(self.store.as_slice(), self.config.dim, self.config.metric);
                if max.is_finite() {
                    let r = graph.search_range_filtered(
                        &scorer,
                        q,
                        max,
                        ef,
                        RANGE_EF_CAP.min(MAX_EF).max(ef),
                        k,
                        accept,
                        mode,
                        budget,
                    );
                    plan.distance_computations += r.stats.distances;
                    plan.capped = r.capped;
                    (!r.exhausted).then_some(r.hits)
                } else {
                    let r = graph.search_filtered(&scorer, q, k, ef, accept, mode, budget);
                    plan.distance_computations += r.stats.distances;
                    (!r.exhausted).then_some(r.hits)
                }
            }
            Some(quant) => {
                let cand = ((k as f32 * self.config.quant.oversample).ceil() as usize)
                    .max(ef)
                    .max(k);
                let scorer = CodeScorer::new(quant, &self.codes, self.config.dim);
                let r = graph.search_filtered(&scorer, q, cand, cand, accept, mode, budget);
                plan.distance_computations += r.stats.distances;
                if r.exhausted {
                    return None;
                }
                let query = scorer.query(q);
                let want = r.hits.len().min(k);
                let (mut top, rescored) = self.finish_quantized(quant, &query, q, r.hits, k);
                plan.distance_computations += rescored;
                top.retain(|&(d, _)| d <= max);
                if top.len() < want && max.is_infinite() {
                    return None;
                }
                Some(top)
            }
        }
    }
}

/// A search request as a host passes it: strings and numbers, parsed here (the bindings only
/// translate).
#[derive(Clone, Debug, Default)]
pub struct SearchOptions {
    /// Hits wanted.
    pub k: usize,
    /// Candidate pool (default: the index's `efSearch`).
    pub ef: Option<usize>,
    /// A filter in the compiled JSON form (see `quiver_filter`).
    pub filter: Option<String>,
    /// `auto | exact | acorn | graph` (default `auto`).
    pub strategy: Option<String>,
    /// Only hits at most this far.
    pub max_distance: Option<f64>,
    /// Return each hit's attributes.
    pub include_attributes: bool,
    /// Return each hit's payload.
    pub include_payload: bool,
}

impl SearchOptions {
    /// The typed request, with `filter` compiled against `index`'s schema.
    fn resolve<'a>(&self, filter: Option<&'a Filter>) -> Result<SearchRequest<'a>> {
        let max_distance = match self.max_distance {
            None => None,
            Some(m) if m.is_nan() => {
                return Err(err!(
                    InvalidArgument,
                    "maxDistance must be a number, got NaN"
                ))
            }
            Some(m) => Some(m as f32),
        };
        Ok(SearchRequest {
            k: self.k,
            ef: self.ef,
            filter,
            strategy: match &self.strategy {
                Some(s) => FilterStrategy::parse(s)?,
                None => FilterStrategy::Auto,
            },
            max_distance,
            include_attributes: self.include_attributes,
            include_payload: self.include_payload,
        })
    }
}

impl VectorIndex {
    /// Compiles a filter in its JSON form against this index's attribute schema.
    pub fn compile_filter(&self, json: &str) -> Result<Filter> {
        self.meta.filter(json)
    }

    /// Rows matching a filter given in its JSON form (all live rows for `None`).
    pub fn count_json(&self, filter: Option<&str>) -> Result<usize> {
        let f = filter.map(|j| self.compile_filter(j)).transpose()?;
        Ok(self.count(f.as_ref()))
    }

    /// One search from host options: the hits (with their plan) and the metadata asked for,
    /// read in the same view.
    pub fn search_options(
        &self,
        query: &[f32],
        opts: &SearchOptions,
    ) -> Result<(SearchHits, HitMeta)> {
        let filter = opts
            .filter
            .as_deref()
            .map(|j| self.compile_filter(j))
            .transpose()?;
        let req = opts.resolve(filter.as_ref())?;
        let hits = self.search_with(query, &req)?;
        let meta = self.hit_meta(&hits.keys, &req);
        Ok((hits, meta))
    }

    /// A batch search from host options; `filters` (JSON forms), when given, holds one filter
    /// per query and replaces `opts.filter`.
    pub fn search_batch_options(
        &self,
        queries: &[f32],
        opts: &SearchOptions,
        filters: Option<&[String]>,
        cancel: &AtomicBool,
    ) -> Result<FilteredBatch> {
        let one = opts
            .filter
            .as_deref()
            .map(|j| self.compile_filter(j))
            .transpose()?;
        let many: Option<Vec<Filter>> = filters
            .map(|fs| {
                fs.iter()
                    .enumerate()
                    .map(|(i, j)| {
                        self.compile_filter(j)
                            .map_err(|e| Error::new(e.code, format!("filters[{i}]: {}", e.message)))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let req = opts.resolve(one.as_ref())?;
        self.search_batch_with(queries, &req, many.as_deref(), cancel)
    }
}
