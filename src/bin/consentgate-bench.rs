//! `consentgate-bench`: the load generator (see `consentgate::loadgen` and
//! `docs/performance.md`).

fn main() -> std::process::ExitCode {
    consentgate::loadgen::main()
}
