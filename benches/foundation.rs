//! `cargo bench`: the same benchmarks as `xcluster bench` (full sizes; `-- --quick` for small ones).

fn main() -> Result<(), xcluster::Error> {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick { xcluster::bench::BenchSizes::quick() } else { xcluster::bench::BenchSizes::full() };
    let df = xcluster::bench::run(sizes, |name, n, secs| {
        println!("{name:<60} {n:>10} in {secs:>8.3} s = {:>8.2} M/s", n as f64 / secs / 1e6)
    })?;
    println!("{df}");
    Ok(())
}
