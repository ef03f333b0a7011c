//! TokenStore: scoring, top-k, compaction, persistence, errors.

use quiver_distance::maxsim::scalar::maxsim_f32;
use quiver_distance::maxsim_i8::QueryI8;
use quiver_muvera::{MuveraError, TokenStorage, TokenStore, STORE_FORMAT_VERSION};

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn tokens(&mut self, n: usize, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n * dim).map(|_| self.f()).collect();
        for t in v.chunks_exact_mut(dim) {
            let s = t.iter().map(|x| x * x).sum::<f32>().sqrt();
            t.iter_mut().for_each(|x| *x /= s);
        }
        v
    }
}

const KINDS: [TokenStorage; 3] = [TokenStorage::F32, TokenStorage::F16, TokenStorage::Sq8];

fn filled(kind: TokenStorage, dim: usize, docs: usize, seed: u64) -> (TokenStore, Vec<Vec<f32>>) {
    let mut rng = Rng(seed);
    let mut s = TokenStore::new(kind, dim).unwrap();
    let mut raw = Vec::new();
    for i in 0..docs {
        let t = rng.tokens(1 + (i * 7) % 13, dim);
        assert_eq!(s.push(&t).unwrap(), i as u32);
        raw.push(t);
    }
    (s, raw)
}

#[test]
fn maxsim_matches_oracle_per_kind() {
    let dim = 37;
    let mut rng = Rng(4);
    let q = rng.tokens(5, dim);
    for kind in KINDS {
        let (s, raw) = filled(kind, dim, 20, 1);
        assert_eq!(s.len(), 20);
        let tol = match kind {
            TokenStorage::F32 => 1e-4,
            TokenStorage::F16 => 5e-3,
            TokenStorage::Sq8 => 3e-2,
        };
        let mut dec = Vec::new();
        for (i, t) in raw.iter().enumerate() {
            let slot = i as u32;
            assert_eq!(s.token_count(slot), Some(t.len() / dim));
            let got = s.maxsim(&q, slot).unwrap();
            assert!((got - maxsim_f32(&q, t, dim)).abs() < tol, "{kind:?} {i}");
            // Exactly the oracle on the decoded (stored) tokens; sq8 storage is scored against
            // the query quantised to int8 the same way, so decode that too.
            s.tokens_into(slot, &mut dec).unwrap();
            let q_used: Vec<f32> = if kind == TokenStorage::Sq8 {
                let qi = QueryI8::new(&q, dim);
                qi.codes()
                    .chunks_exact(dim)
                    .zip(qi.scales())
                    .flat_map(|(c, &t)| c.iter().map(move |&v| f32::from(v) * t))
                    .collect()
            } else {
                q.clone()
            };
            assert!(
                (got - maxsim_f32(&q_used, &dec, dim)).abs() < 1e-4,
                "{kind:?} {i}"
            );
        }
    }
}

#[test]
fn exhaustive_top_k_and_rerank_match_brute_force() {
    let dim = 24;
    let mut rng = Rng(10);
    let q = rng.tokens(4, dim);
    for kind in KINDS {
        let (s, _) = filled(kind, dim, 300, 2);
        let mut all: Vec<(u32, f32)> = (0..300u32)
            .filter(|i| i % 3 != 0)
            .map(|i| (i, s.maxsim(&q, i).unwrap()))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let got = s.exhaustive_top_k(&q, 10, |i| i % 3 != 0).unwrap();
        assert_eq!(got, all[..10].to_vec(), "{kind:?}");
        let cands: Vec<u32> = (0..300).filter(|i| i % 3 != 0).rev().collect();
        assert_eq!(s.rerank(&q, &cands, 10).unwrap(), all[..10].to_vec());
        // maxsim_many: the same scores, in the order given.
        let many = s.maxsim_many(&q, &cands).unwrap();
        let one: Vec<(u32, f32)> = cands
            .iter()
            .map(|&c| (c, s.maxsim(&q, c).unwrap()))
            .collect();
        assert_eq!(many, one, "{kind:?}");
        assert_eq!(s.exhaustive_top_k(&q, 0, |_| true).unwrap(), vec![]);
        assert_eq!(s.exhaustive_top_k(&q, 1000, |_| true).unwrap().len(), 300);
    }
}

#[test]
fn compact_keeps_selected_slots_in_order() {
    for kind in KINDS {
        let (s, _) = filled(kind, 8, 10, 3);
        let keep: Vec<bool> = (0..10).map(|i| i % 4 != 1).collect();
        let (c, map) = s.compact(&keep).unwrap();
        assert_eq!(c.len(), 7);
        let mut q = Rng(1).tokens(2, 8);
        q[0] += 0.0;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (old, new) in map.iter().enumerate() {
            assert_eq!(new.is_some(), keep[old]);
            if let Some(n) = *new {
                s.tokens_into(old as u32, &mut a).unwrap();
                c.tokens_into(n, &mut b).unwrap();
                assert_eq!(a, b);
                assert_eq!(s.maxsim(&q, old as u32), c.maxsim(&q, n));
            }
        }
        assert!(matches!(
            s.compact(&keep[..9]),
            Err(MuveraError::InvalidArgument(_))
        ));
    }
}

#[test]
fn bytes_round_trip_and_validation() {
    for kind in KINDS {
        let (s, _) = filled(kind, 19, 15, 5);
        let mut b = Vec::new();
        s.to_bytes(&mut b);
        let r = TokenStore::from_bytes(&b).unwrap();
        assert_eq!(r, s);
        assert!(s.bytes() > 0);

        let mut v = b.clone();
        v[4..8].copy_from_slice(&(STORE_FORMAT_VERSION + 1).to_le_bytes());
        assert_eq!(
            TokenStore::from_bytes(&v),
            Err(MuveraError::VersionMismatch {
                found: STORE_FORMAT_VERSION + 1,
                expected: STORE_FORMAT_VERSION
            })
        );
        let corrupt = |x: &[u8]| matches!(TokenStore::from_bytes(x), Err(MuveraError::Corrupt(_)));
        assert!(corrupt(&b[..b.len() - 1]));
        assert!(corrupt(&[b.as_slice(), &[0]].concat()));
        assert!(corrupt(&b[..20]));
        let mut bad_kind = b.clone();
        bad_kind[8] = 9;
        assert!(corrupt(&bad_kind));
        // Offsets not increasing: make offsets[1] = 0.
        let mut bad_off = b.clone();
        bad_off[40..48].copy_from_slice(&0u64.to_le_bytes());
        assert!(corrupt(&bad_off));
    }
    let empty = TokenStore::new(TokenStorage::F16, 3).unwrap();
    let mut b = Vec::new();
    empty.to_bytes(&mut b);
    assert_eq!(TokenStore::from_bytes(&b).unwrap(), empty);
}

#[test]
fn bad_inputs_are_rejected() {
    assert!(matches!(
        TokenStore::new(TokenStorage::F32, 0),
        Err(MuveraError::InvalidArgument(_))
    ));
    let mut s = TokenStore::new(TokenStorage::Sq8, 4).unwrap();
    assert_eq!(s.push(&[]), Err(MuveraError::EmptyTokens));
    assert_eq!(
        s.push(&[1.0; 6]),
        Err(MuveraError::RaggedTokens { len: 6, dim: 4 })
    );
    assert_eq!(
        s.push(&[1.0, 2.0, 3.0, f32::INFINITY]),
        Err(MuveraError::NonFinite {
            token: 0,
            component: 3
        })
    );
    assert!(s.is_empty());
    s.push(&[1.0; 8]).unwrap();
    assert!(matches!(
        s.maxsim(&[1.0; 4], 1),
        Err(MuveraError::InvalidArgument(_))
    ));
    assert_eq!(
        s.maxsim(&[1.0; 3], 0),
        Err(MuveraError::RaggedTokens { len: 3, dim: 4 })
    );
    assert!(matches!(
        s.rerank(&[1.0; 4], &[0, 7], 1),
        Err(MuveraError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.maxsim_many(&[1.0; 4], &[0, 7]),
        Err(MuveraError::InvalidArgument(_))
    ));
    assert_eq!(
        s.maxsim_many(&[1.0; 3], &[0]),
        Err(MuveraError::RaggedTokens { len: 3, dim: 4 })
    );
    assert_eq!(s.maxsim(&[0.5; 4], 0).unwrap(), 2.0);
    assert_eq!(TokenStorage::parse(" F16 "), Some(TokenStorage::F16));
    assert_eq!(TokenStorage::parse("int8"), None);
}
