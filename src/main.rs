//! The `casey` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    caseyos::run()
}
