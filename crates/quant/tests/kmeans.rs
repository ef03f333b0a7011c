//! k-means: determinism, cluster recovery, empty-cluster splits, sampling, errors.

use quiver_quant::kmeans::{self, CentroidIndex, KMeansInit, KMeansParams, SplitMix64};
use quiver_quant::QuantError;

fn gaussian(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n * dim).map(|_| rng.normal() as f32).collect()
}

/// `k` centres spaced far apart, `per` noisy points each (σ = 1); returns (data, centres).
fn separated(k: usize, per: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64::new(seed);
    let centres: Vec<f32> = (0..k * dim)
        .map(|_| (rng.normal() * 100.0) as f32)
        .collect();
    let mut data = Vec::new();
    for i in 0..k * per {
        let c = i % k;
        for d in 0..dim {
            data.push(centres[c * dim + d] + rng.normal() as f32);
        }
    }
    (data, centres)
}

#[test]
fn deterministic_for_a_seed() {
    let data = gaussian(3000, 8, 1);
    let p = KMeansParams::new(32);
    let a = kmeans::train(&data, 8, &p).unwrap();
    let b = kmeans::train(&data, 8, &p).unwrap();
    assert_eq!(a, b);
    let c = kmeans::train(&data, 8, &KMeansParams { seed: 99, ..p }).unwrap();
    assert_ne!(a.centroids, c.centroids);
}

#[test]
fn independent_of_thread_count() {
    let data = gaussian(5000, 6, 2);
    let p = KMeansParams::new(40);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| kmeans::train(&data, 6, &p).unwrap())
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn finds_well_separated_clusters() {
    let (k, dim) = (10, 16);
    let (data, centres) = separated(k, 60, dim, 3);
    for init in [KMeansInit::PlusPlus, KMeansInit::Random] {
        let r = kmeans::train(
            &data,
            dim,
            &KMeansParams {
                init: init.clone(),
                ..KMeansParams::new(k)
            },
        )
        .unwrap();
        if init == KMeansInit::Random {
            // Random init may put two seeds in one cluster; Lloyd + splits usually recovers,
            // but only k-means++ is guaranteed to here.
            continue;
        }
        for c in 0..k {
            let truth = &centres[c * dim..(c + 1) * dim];
            let best = (0..k)
                .map(|j| {
                    r.centroids[j * dim..(j + 1) * dim]
                        .iter()
                        .zip(truth)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f32>()
                })
                .fold(f32::INFINITY, f32::min);
            // Mean of 60 N(0,1) points: squared error ≈ dim/60 ≈ 0.27.
            assert!(best < 2.0, "centre {c} missed: {best}");
        }
        // Assignments are pure.
        let idx = CentroidIndex::new(&r.centroids, dim);
        let mut a = vec![0u32; data.len() / dim];
        let mut d = vec![0.0f32; data.len() / dim];
        idx.nearest(&data, &mut a, &mut d);
        for c in 0..k {
            let first = a[c];
            for i in (c..a.len()).step_by(k) {
                assert_eq!(a[i], first);
            }
        }
    }
}

#[test]
fn empty_clusters_are_split() {
    // 400 points but only 24 distinct values, k = 64: most clusters start empty/duplicated.
    let dim = 4;
    let distinct = gaussian(24, dim, 4);
    let data: Vec<f32> = (0..400)
        .flat_map(|i| distinct[(i % 24) * dim..(i % 24 + 1) * dim].to_vec())
        .collect();
    for init in [KMeansInit::PlusPlus, KMeansInit::Random] {
        let r = kmeans::train(
            &data,
            dim,
            &KMeansParams {
                init,
                ..KMeansParams::new(64)
            },
        )
        .unwrap();
        assert!(r.splits > 0, "no split happened");
        assert!(r.centroids.iter().all(|v| v.is_finite()));
        // Every distinct point is (almost exactly) a centroid.
        assert!(r.inertia < 1e-3, "inertia {}", r.inertia);
    }
}

#[test]
fn more_iterations_do_not_hurt() {
    let data = gaussian(4000, 8, 5);
    let inertia = |iters: usize| {
        let p = KMeansParams {
            iterations: iters,
            init: KMeansInit::Random,
            ..KMeansParams::new(64)
        };
        let r = kmeans::train(&data, 8, &p).unwrap();
        // Objective of the final centroids.
        let idx = CentroidIndex::new(&r.centroids, 8);
        let mut a = vec![0u32; 4000];
        let mut d = vec![0.0f32; 4000];
        idx.nearest(&data, &mut a, &mut d);
        d.iter().map(|&v| f64::from(v)).sum::<f64>()
    };
    let (i1, i5, i25) = (inertia(1), inertia(5), inertia(25));
    assert!(i5 < i1 && i25 <= i5 * 1.0001, "{i1} {i5} {i25}");
}

#[test]
fn subsamples_to_max_points_per_centroid() {
    let data = gaussian(3000, 2, 6);
    let p = KMeansParams {
        max_points_per_centroid: 100,
        ..KMeansParams::new(10)
    };
    let r = kmeans::train(&data, 2, &p).unwrap();
    assert_eq!(r.train_points, 1000);
    let r = kmeans::train(&data, 2, &KMeansParams::new(20)).unwrap();
    assert_eq!(r.train_points, 3000);
}

#[test]
fn errors() {
    let data = gaussian(10, 3, 7);
    let err = kmeans::train(&data, 3, &KMeansParams::new(11)).unwrap_err();
    assert_eq!(
        err,
        QuantError::TooFewVectors {
            needed: 11,
            got: 10
        }
    );
    assert!(err.to_string().contains("11"));
    let mut bad = data.clone();
    bad[7] = f32::NAN;
    assert_eq!(
        kmeans::train(&bad, 3, &KMeansParams::new(2)).unwrap_err(),
        QuantError::NonFinite { row: 2 }
    );
    assert!(matches!(
        kmeans::train(&data, 3, &KMeansParams::new(0)),
        Err(QuantError::InvalidArgument(_))
    ));
    assert!(matches!(
        kmeans::train(&data[..29], 3, &KMeansParams::new(2)),
        Err(QuantError::InvalidArgument(_))
    ));
    let given = KMeansParams {
        init: KMeansInit::Given(vec![0.0; 5]),
        ..KMeansParams::new(2)
    };
    assert!(matches!(
        kmeans::train(&data, 3, &given),
        Err(QuantError::InvalidArgument(_))
    ));
}

#[test]
fn k_equals_n() {
    let data = gaussian(50, 5, 8);
    let r = kmeans::train(&data, 5, &KMeansParams::new(50)).unwrap();
    // Every point is its own centroid (up to the rounding of ‖x‖² + ‖c‖² − 2·x·c).
    assert!(r.inertia < 1e-3, "{}", r.inertia);
}

#[test]
fn sample_indices_are_distinct_and_sorted() {
    let mut rng = SplitMix64::new(9);
    let s = kmeans::sample_indices(1000, 300, &mut rng);
    assert_eq!(s.len(), 300);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert!(s.iter().all(|&i| i < 1000));
    assert_eq!(kmeans::sample_indices(5, 10, &mut rng), vec![0, 1, 2, 3, 4]);
}
