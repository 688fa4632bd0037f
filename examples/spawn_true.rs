//! The baseline of `bench/run_overhead.sh`: spawn and wait for a program N
//! times, nothing else (no pipes, no files).
//!
//!     cargo run --release --example spawn_true -- 1000 /bin/true

use std::process::Command;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let program = args.next().unwrap_or_else(|| "/bin/true".to_owned());
    let start = Instant::now();
    for _ in 0..n {
        let status = Command::new(&program).status().expect("spawn");
        assert!(status.success());
    }
    let total = start.elapsed().as_secs_f64();
    println!("{total:.6}");
}
