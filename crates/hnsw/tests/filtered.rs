//! Filtered search (graph-filter and ACORN-1 modes), the distance budget, and range search,
//! all checked against a brute-force oracle on seeded data.

mod common;

use common::{build, dataset};
use quiver_hnsw::Params;

/// Unfiltered `search` must return exactly what it returned before filtered and range search
/// were added: ids recorded from the code as it was, single-thread build, fixed seeds.
#[test]
fn unfiltered_search_is_unchanged() {
    let data = dataset(3000, 16, 17);
    let queries = dataset(8, 16, 18);
    let g = build(&data, Params::new(8, 64, 3), 1);
    let got: Vec<Vec<u32>> = (0..8u32)
        .map(|qi| {
            let (found, _) = g.search(&data, queries.row(qi), 5, 32);
            found.iter().map(|x| x.1).collect()
        })
        .collect();
    let before: Vec<Vec<u32>> = vec![
        vec![1734, 1994, 1694, 1754, 2634],
        vec![2894, 1634, 2354, 2774, 374],
        vec![85, 1725, 1447, 2907, 2727],
        vec![965, 1145, 785, 265, 1305],
        vec![154, 534, 1494, 2014, 2714],
        vec![1728, 2722, 2839, 2228, 1162],
        vec![2870, 570, 2770, 2350, 2410],
        vec![1911, 411, 2091, 2891, 2191],
    ];
    assert_eq!(got, before);
}
