//! What the benchmark programs read from their environment.

/// The number in environment variable `name`, or `default` when it is not set.
pub fn number(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number, not `{v}`")))
}
