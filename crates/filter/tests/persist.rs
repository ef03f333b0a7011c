//! Encode/decode round trips, and decoding of truncated, bit-flipped and crafted bytes:
//! always `Err(Corrupt)` (or, for re-sealed random mutations, a valid store), never a panic.

mod common;

use common::SplitMix;
use quiver_filter::{AttributeStore, ByteSource, FilterError, PayloadStore, Schema};

/// The crate's checksum, repeated here to craft bytes that pass it.
fn checksum(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for c in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(PRIME);
    }
    h = (h ^ bytes.len() as u64).wrapping_mul(PRIME);
    h ^ (h >> 29)
}

fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let s = checksum(&body);
    body.extend_from_slice(&s.to_le_bytes());
    body
}

fn unseal(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len() - 8].to_vec()
}

#[track_caller]
fn corrupt<T: std::fmt::Debug>(r: Result<T, FilterError>, needle: &str) {
    match r {
        Err(FilterError::Corrupt(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected Corrupt containing {needle:?}, got {other:?}"),
    }
}

fn schema() -> Schema {
    Schema::from_json(
        r#"{"lang":"keyword","tags":"keyword[]","year":"int","score":"float","ok":"bool"}"#,
    )
    .unwrap()
}

fn sample_store() -> AttributeStore {
    let mut st = AttributeStore::new(schema());
    let recs = st
        .parse_batch(
            r#"[{"lang":"en","tags":["a","b"],"year":2024,"score":-0.5,"ok":true},
                null,
                {"tags":[],"year":-9007199254740991},
                {"lang":"ünï","score":1e308,"ok":false}]"#,
            4,
        )
        .unwrap();
    for (slot, r) in [3u32, 9, 10, 70].iter().zip(&recs) {
        st.set(*slot, r);
    }
    st
}

#[test]
fn attribute_round_trip() {
    let st = sample_store();
    let bytes = st.encode();
    let back = AttributeStore::decode(&bytes, &schema(), 71).unwrap();
    assert_eq!(back.live(), st.live());
    for s in [3, 9, 10, 70, 4] {
        assert_eq!(back.get_json(s), st.get_json(s));
    }
    assert_eq!(back.encode(), bytes);
    let empty = AttributeStore::new(schema());
    let back = AttributeStore::decode(&empty.encode(), &schema(), 0).unwrap();
    assert!(back.is_empty());
    corrupt(
        AttributeStore::decode(&bytes, &schema(), 70),
        "slot 70 is not below 70",
    );
    let other = Schema::from_json(r#"{"lang":"keyword"}"#).unwrap();
    corrupt(
        AttributeStore::decode(&bytes, &other, 100),
        "different schema",
    );
}

#[test]
fn attribute_truncations_and_bit_flips_are_refused() {
    let bytes = sample_store().encode();
    for len in 0..bytes.len() {
        assert!(matches!(
            AttributeStore::decode(&bytes[..len], &schema(), 100),
            Err(FilterError::Corrupt(_))
        ));
    }
    let mut flips = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            assert!(matches!(
                AttributeStore::decode(&b, &schema(), 100),
                Err(FilterError::Corrupt(_))
            ));
            flips += 1;
        }
    }
    assert!(flips >= 8 * 64, "{flips} flips");
}

/// Bytes that pass the checksum but are damaged inside must still be refused or give a
/// consistent store, never panic.
#[test]
fn attribute_resealed_mutations_never_panic() {
    let body = unseal(&sample_store().encode());
    let mut rng = SplitMix(7);
    let mut ok = 0;
    for _ in 0..20_000 {
        let mut b = body.clone();
        match rng.below(4) {
            0 => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 => {
                let i = rng.below(b.len());
                b.truncate(i);
            }
            2 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            _ => {
                let i = rng.below(b.len());
                let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(i..i, extra);
            }
        }
        if let Ok(st) = AttributeStore::decode(&seal(b), &schema(), 100) {
            // whatever decoded is self-consistent: it re-encodes and decodes to the same
            let again = AttributeStore::decode(&st.encode(), &schema(), 100).unwrap();
            assert_eq!(again.live(), st.live());
            ok += 1;
        }
    }
    assert!(ok < 20_000);
}

fn header(count: u32) -> Vec<u8> {
    let mut b = b"QVAT".to_vec();
    b.push(1);
    b.extend_from_slice(&schema().fingerprint().to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    b
}

#[test]
fn attribute_crafted_bytes_are_refused() {
    let s = schema();
    // fields by id: 0 lang, 1 ok, 2 score, 3 tags, 4 year
    let dec = |b: Vec<u8>| AttributeStore::decode(&seal(b), &s, 1000);
    let rec = |slot: u32, vals: &[u8]| {
        let mut b = slot.to_le_bytes().to_vec();
        b.extend_from_slice(vals);
        b
    };
    let with = |count: u32, recs: &[Vec<u8>]| {
        let mut b = header(count);
        for r in recs {
            b.extend_from_slice(r);
        }
        b
    };
    corrupt(AttributeStore::decode(&[], &s, 10), "too short");
    let mut b = header(0);
    b[0] = b'X';
    corrupt(dec(b), "bad magic");
    let mut b = header(0);
    b[4] = 2;
    corrupt(dec(b), "unsupported version 2");
    corrupt(dec(header(u32::MAX)), "cannot fit");
    corrupt(
        dec(with(1, &[rec(1, &[1, 9, 2])])),
        "field id 9 out of range",
    );
    corrupt(dec(with(1, &[rec(1, &[9])])), "9 values for 5 fields");
    corrupt(
        dec(with(1, &[rec(1, &[2, 1, 1, 0, 0])])),
        "field 0 out of order",
    );
    corrupt(dec(with(1, &[rec(1, &[1, 1, 2])])), "bool byte 2");
    corrupt(
        dec(with(1, &[rec(1, &[1, 0, 2, 0, 0xff, 0xfe])])),
        "not UTF-8",
    );
    corrupt(
        dec(with(1, &[rec(1, &[1, 0, 0x01, 0x04])])),
        "exceeds the limit",
    );
    corrupt(dec(with(1, &[rec(1, &[1, 0, 5, 0, b'a'])])), "truncated");
    corrupt(
        dec(with(1, &[rec(1, &[1, 3, 2, 0, 1, 0, b'a', 1, 0, b'a'])])),
        "duplicate string",
    );
    corrupt(
        dec(with(1, &[rec(1, &[1, 3, 0xff, 0xff])])),
        "keyword array of 65535",
    );
    let mut v = vec![1, 4];
    v.extend_from_slice(&(1i64 << 53).to_le_bytes());
    corrupt(dec(with(1, &[rec(1, &v)])), "out of the safe range");
    let mut v = vec![1, 2];
    v.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
    corrupt(dec(with(1, &[rec(1, &v)])), "non-finite");
    corrupt(
        dec(with(2, &[rec(5, &[0]), rec(5, &[0])])),
        "slot 5 out of order",
    );
    corrupt(
        dec(with(2, &[rec(6, &[0]), rec(5, &[0])])),
        "slot 5 out of order",
    );
    corrupt(dec(with(1, &[rec(1000, &[0])])), "not below 1000");
    let mut b = with(1, &[rec(1, &[0])]);
    b.push(0);
    corrupt(dec(b), "trailing bytes");
    // a well-formed crafted record decodes
    let st = dec(with(1, &[rec(4, &[2, 0, 2, 0, b'h', b'i', 1, 1])])).unwrap();
    assert_eq!(st.get_json(4).unwrap(), r#"{"lang":"hi","ok":true}"#);
}

fn sample_payloads() -> PayloadStore {
    let mut p = PayloadStore::new();
    p.set(2, br#"{"a":1}"#).unwrap();
    p.set(5, b"").unwrap();
    p.set(9, "\"ünïcode\"".as_bytes()).unwrap();
    p.set(1000, b"[1,2,3]").unwrap();
    p
}

#[test]
fn payload_round_trip_and_overlay() {
    let p = sample_payloads();
    assert_eq!(p.len(), 4);
    let bytes = p.encode();
    let mut d = PayloadStore::decode(&bytes).unwrap();
    assert_eq!(d.len(), 4);
    assert_eq!(d.get(2), Some(&br#"{"a":1}"#[..]));
    assert_eq!(d.get(5), Some(&b""[..]));
    assert_eq!(d.get(1000), Some(&b"[1,2,3]"[..]));
    assert_eq!(d.get(3), None);
    assert_eq!(d.encode(), bytes);
    // changes go to the overlay
    d.set(2, b"true").unwrap();
    d.clear(9);
    d.clear(9);
    d.clear(77);
    d.set(7, b"null").unwrap();
    assert_eq!(d.len(), 4);
    assert_eq!(d.get(2), Some(&b"true"[..]));
    assert_eq!(d.get(9), None);
    assert!(!d.contains(9));
    d.set(9, b"1").unwrap();
    assert_eq!(d.len(), 5);
    d.clear(9);
    let re = PayloadStore::decode(&d.encode()).unwrap();
    for s in [2, 5, 7, 9, 1000, 3] {
        assert_eq!(re.get(s), d.get(s), "slot {s}");
    }
    assert_eq!(re.len(), 4);
    assert!(d.memory_usage() >= bytes.len());
    // a caller-owned source
    struct Shared(std::sync::Arc<Vec<u8>>);
    impl ByteSource for Shared {
        fn bytes(&self) -> &[u8] {
            &self.0
        }
    }
    let src = Shared(std::sync::Arc::new(bytes.clone()));
    let m = PayloadStore::from_source(Box::new(src), 1001).unwrap();
    assert_eq!(m.get(9), Some("\"ünïcode\"".as_bytes()));
    corrupt(
        PayloadStore::from_source(Box::new(bytes.clone()), 1000),
        "slot 1000 is not below 1000",
    );
    let empty = PayloadStore::decode(&PayloadStore::new().encode()).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn payload_truncations_and_bit_flips_are_refused() {
    let bytes = sample_payloads().encode();
    for len in 0..bytes.len() {
        assert!(matches!(
            PayloadStore::decode(&bytes[..len]),
            Err(FilterError::Corrupt(_))
        ));
    }
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            assert!(matches!(
                PayloadStore::decode(&b),
                Err(FilterError::Corrupt(_))
            ));
        }
    }
}

#[test]
fn payload_resealed_mutations_never_panic() {
    let body = unseal(&sample_payloads().encode());
    let mut rng = SplitMix(11);
    for _ in 0..20_000 {
        let mut b = body.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(3) {
                0 => {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                1 => {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                _ => {
                    let i = rng.below(b.len() + 1);
                    b.truncate(i.max(1));
                }
            }
        }
        if let Ok(p) = PayloadStore::from_source(Box::new(seal(b)), 2000) {
            for s in 0..1100 {
                if let Some(x) = p.get(s) {
                    assert!(std::str::from_utf8(x).is_ok());
                }
            }
            PayloadStore::decode(&p.encode()).unwrap();
        }
    }
}

fn payload_bytes(entries: &[(u32, u64)], arena: &[u8]) -> Vec<u8> {
    let mut b = b"QVPL".to_vec();
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    for (s, e) in entries {
        b.extend_from_slice(&s.to_le_bytes());
        b.extend_from_slice(&e.to_le_bytes());
    }
    b.extend_from_slice(arena);
    seal(b)
}

#[test]
fn payload_crafted_bytes_are_refused() {
    let dec = |b: Vec<u8>| PayloadStore::from_source(Box::new(b), 100);
    assert_eq!(
        dec(payload_bytes(&[(1, 2), (3, 4)], b"abcd"))
            .unwrap()
            .get(3),
        Some(&b"cd"[..])
    );
    let mut b = unseal(&payload_bytes(&[], b""));
    b[0] = b'x';
    corrupt(dec(seal(b)), "bad magic");
    let mut b = unseal(&payload_bytes(&[], b""));
    b[4] = 9;
    corrupt(dec(seal(b)), "unsupported version 9");
    let mut b = unseal(&payload_bytes(&[], b""));
    b[6] = 1;
    corrupt(dec(seal(b)), "reserved");
    let mut b = unseal(&payload_bytes(&[], b""));
    b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    corrupt(dec(seal(b)), "cannot fit");
    corrupt(
        dec(payload_bytes(&[(3, 2), (1, 4)], b"abcd")),
        "out of order",
    );
    corrupt(
        dec(payload_bytes(&[(3, 2), (3, 4)], b"abcd")),
        "out of order",
    );
    corrupt(
        dec(payload_bytes(&[(1, 3), (3, 2)], b"abcd")),
        "out of bounds",
    );
    corrupt(
        dec(payload_bytes(&[(1, 2), (3, 9)], b"abcd")),
        "out of bounds",
    );
    corrupt(
        dec(payload_bytes(&[(1, u64::MAX)], b"abcd")),
        "out of bounds",
    );
    corrupt(
        dec(payload_bytes(&[(1, 2), (3, 3)], b"abcd")),
        "arena of 4 bytes, entries cover 3",
    );
    corrupt(dec(payload_bytes(&[(1, 2)], &[b'a', 0xff])), "not UTF-8");
    corrupt(dec(payload_bytes(&[(100, 1)], b"a")), "not below 100");
    let big = vec![b'x'; (1 << 20) + 1];
    corrupt(
        dec(payload_bytes(&[(1, big.len() as u64)], &big)),
        "out of bounds",
    );
}
