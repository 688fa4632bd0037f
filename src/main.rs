//! The `cool-runner` binary: everything is in the library.

// Expansion and YAML output allocate many small values; mimalloc makes them
// several times cheaper than glibc's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let code = cool_runner::main(std::env::args_os());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
