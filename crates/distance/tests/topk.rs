//! TopK: ordering, ties, bounds.

use proptest::prelude::*;
use quiver_distance::TopK;

/// Reference: sort everything by (dist, id) and take k.
fn reference(items: &[(f32, u32)], k: usize) -> Vec<(f32, u32)> {
    let mut v: Vec<(f32, u32)> = items
        .iter()
        .copied()
        .filter(|(d, _)| !d.is_nan())
        .map(|(d, id)| (d + 0.0, id))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v.truncate(k);
    v
}

#[test]
fn keeps_k_smallest_sorted() {
    let mut t = TopK::new(3);
    assert!(t.is_empty());
    assert_eq!(t.worst(), f32::INFINITY);
    for (d, id) in [(5.0, 0), (1.0, 1), (4.0, 2), (3.0, 3), (2.0, 4), (6.0, 5)] {
        t.push(d, id);
    }
    assert_eq!(t.len(), 3);
    assert_eq!(t.k(), 3);
    assert_eq!(t.worst(), 3.0);
    assert_eq!(t.into_sorted(), vec![(1.0, 1), (2.0, 4), (3.0, 3)]);
}

#[test]
fn worst_is_infinite_until_full() {
    let mut t = TopK::new(2);
    t.push(1.0, 0);
    assert_eq!(t.worst(), f32::INFINITY);
    t.push(7.0, 1);
    assert_eq!(t.worst(), 7.0);
    t.push(3.0, 2);
    assert_eq!(t.worst(), 3.0);
}

#[test]
fn ties_broken_by_smaller_id_regardless_of_order() {
    let mut fwd = TopK::new(3);
    let mut rev = TopK::new(3);
    let ids: Vec<u32> = (0..10).collect();
    for &id in &ids {
        fwd.push(1.0, id);
    }
    for &id in ids.iter().rev() {
        rev.push(1.0, id);
    }
    let expected = vec![(1.0, 0), (1.0, 1), (1.0, 2)];
    assert_eq!(fwd.into_sorted(), expected);
    assert_eq!(rev.into_sorted(), expected);

    let mut t = TopK::new(10);
    for (d, id) in [(2.0, 9), (1.0, 5), (2.0, 3), (1.0, 7), (2.0, 1)] {
        t.push(d, id);
    }
    assert_eq!(
        t.into_sorted(),
        vec![(1.0, 5), (1.0, 7), (2.0, 1), (2.0, 3), (2.0, 9)]
    );
}

#[test]
fn fewer_than_k_items() {
    let mut t = TopK::new(100);
    t.push(0.5, 2);
    t.push(0.25, 1);
    assert_eq!(t.len(), 2);
    assert_eq!(t.worst(), f32::INFINITY);
    assert_eq!(t.into_sorted(), vec![(0.25, 1), (0.5, 2)]);
}

#[test]
fn nan_ignored_and_negative_zero_ties_zero() {
    let mut t = TopK::new(3);
    t.push(f32::NAN, 0);
    t.push(0.0, 5);
    t.push(-0.0, 6);
    t.push(-1.0, 7);
    assert_eq!(t.len(), 3);
    let got = t.into_sorted();
    assert_eq!(got, vec![(-1.0, 7), (0.0, 5), (0.0, 6)]);
    assert!(got.iter().all(|(d, _)| !d.is_sign_negative() || *d < 0.0));
}

#[test]
fn infinite_distances() {
    let mut t = TopK::new(2);
    t.push(f32::INFINITY, 1);
    t.push(f32::INFINITY, 0);
    t.push(f32::INFINITY, 2);
    assert_eq!(
        t.into_sorted(),
        vec![(f32::INFINITY, 0), (f32::INFINITY, 1)]
    );
}

#[test]
fn huge_k_does_not_preallocate_unbounded() {
    let mut t = TopK::new(usize::MAX);
    t.push(1.0, 1);
    assert_eq!(t.worst(), f32::INFINITY);
    assert_eq!(t.into_sorted(), vec![(1.0, 1)]);
}

proptest! {
    #[test]
    fn prop_matches_sort_reference(
        items in prop::collection::vec(
            (prop_oneof![4 => (0u8..16).prop_map(f32::from), 1 => -10.0f32..10.0, 1 => Just(f32::NAN)], 0u32..64),
            0..300,
        ),
        k in 0usize..40,
    ) {
        let mut t = TopK::new(k);
        for &(d, id) in &items {
            t.push(d, id);
        }
        let exp = reference(&items, k);
        prop_assert_eq!(t.len(), exp.len());
        if exp.len() == k && k > 0 {
            prop_assert_eq!(t.worst(), exp[k - 1].0);
        }
        prop_assert_eq!(t.into_sorted(), exp);
    }
}
