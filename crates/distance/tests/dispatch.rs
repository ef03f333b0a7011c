//! Dispatch: available ISAs, names, and the real `QUIVER_FORCE_ISA` path
//! (checked in child processes so this process's environment is never mutated).

use quiver_distance::{
    available_isas, forced_isa, kernels, kernels_for, Isa, Metric, FORCE_ISA_ENV,
};
use std::process::Command;

const ALL_ISAS: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

#[test]
fn names_round_trip() {
    for isa in ALL_ISAS {
        assert_eq!(Isa::parse(isa.name()), Some(isa));
        assert_eq!(Isa::parse(&isa.name().to_uppercase()), Some(isa));
    }
    for m in [Metric::L2, Metric::Ip, Metric::Cosine] {
        assert_eq!(Metric::parse(m.name()), Some(m));
        assert_eq!(Metric::parse(&m.name().to_uppercase()), Some(m));
    }
    assert_eq!(
        ALL_ISAS.map(Isa::name),
        ["scalar", "avx2", "avx512", "neon"]
    );
    assert_eq!(
        [Metric::L2, Metric::Ip, Metric::Cosine].map(Metric::name),
        ["l2", "ip", "cosine"]
    );
    assert_eq!(Isa::parse("sse"), None);
    assert_eq!(Isa::parse(""), None);
    assert_eq!(Metric::parse("dot"), None);
}

#[test]
fn available_isas_consistent_with_kernels_for() {
    let avail = available_isas();
    assert_eq!(avail.last(), Some(&Isa::Scalar));
    for isa in ALL_ISAS {
        assert_eq!(avail.contains(&isa), kernels_for(isa).is_some(), "{isa:?}");
    }
    let mut dedup = avail.clone();
    dedup.dedup();
    assert_eq!(dedup, avail);
    #[cfg(target_arch = "x86_64")]
    {
        assert!(!avail.contains(&Isa::Neon));
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            assert!(avail.contains(&Isa::Avx2));
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            assert_eq!(avail[0], Isa::Avx512);
        }
    }
    #[cfg(target_arch = "aarch64")]
    assert_eq!(avail[0], Isa::Neon);
}

#[test]
fn default_selection_is_best_unless_forced() {
    let k = kernels();
    match forced_isa() {
        Some(isa) => assert_eq!(k.isa, isa),
        None => assert_eq!(k.isa, available_isas()[0]),
    }
}

/// Runs in a child process (see `force_isa_env_in_child_processes`); a no-op
/// when run normally.
#[test]
fn child_report_isa() {
    if let Ok(expect) = std::env::var("QUIVER_DISTANCE_TEST_EXPECT") {
        let (isa, forced) = expect.split_once(',').expect("isa,forced");
        assert_eq!(kernels().isa.name(), isa);
        assert_eq!(forced_isa().map(Isa::name).unwrap_or("none"), forced);
        // The table really works.
        assert_eq!((kernels().dot)(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
    }
}

#[test]
fn force_isa_env_in_child_processes() {
    let exe = std::env::current_exe().expect("current exe");
    let avail = available_isas();
    let best = avail[0].name();
    let mut cases: Vec<(String, String)> = vec![
        ("".into(), format!("{best},none")),
        ("bogus".into(), format!("{best},none")),
    ];
    for isa in ALL_ISAS {
        let expect = if avail.contains(&isa) {
            format!("{0},{0}", isa.name())
        } else {
            format!("{best},none")
        };
        cases.push((isa.name().to_uppercase(), expect));
    }
    for (value, expect) in cases {
        let out = Command::new(&exe)
            .args(["--exact", "child_report_isa", "--test-threads=1"])
            .env(FORCE_ISA_ENV, &value)
            .env("QUIVER_DISTANCE_TEST_EXPECT", &expect)
            .output()
            .expect("spawn child test");
        assert!(
            out.status.success(),
            "{FORCE_ISA_ENV}={value:?} expected {expect}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "child did not run the test"
        );
    }
}
