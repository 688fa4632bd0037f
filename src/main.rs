fn main() -> std::process::ExitCode {
    let code = cool_runner::main(std::env::args_os());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
