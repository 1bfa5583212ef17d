//! The `consentgate` command.

fn main() -> std::process::ExitCode {
    consentgate::cli::main()
}
