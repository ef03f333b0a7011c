//! Prints the level chosen for this process and the variant every kernel family uses.
//!
//! `cargo run --release -p quiver-distance --example capabilities`
//! (set `QUIVER_FORCE_ISA=scalar|avx2|avx512|neon` to see a forced level).

fn main() {
    let c = quiver_distance::capabilities();
    println!("level {} (forced: {})", c.isa.name(), c.forced);
    println!(
        "available: {:?}",
        quiver_distance::available_isas()
            .iter()
            .map(|i| i.name())
            .collect::<Vec<_>>()
    );
    for (family, variant) in &c.families {
        println!("{family:<10} {variant}");
    }
}
