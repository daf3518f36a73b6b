fn main() -> std::process::ExitCode {
    modreg::cli::main()
}
