//! `modreg serve [--listen ADDR]`: the HTTP API (SPEC §10) until SIGINT or SIGTERM.
//! Prints where it listens on stderr; exits 0 when every running job finished before
//! it stopped, 130/143 when jobs had to be interrupted and rolled back.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::cli::{Done, Env, seconds};
use crate::domain::{Error, Result};
use crate::server::{Limits, Stopped, serve};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", env = "MODREG_LISTEN")]
    listen: String,
    /// The largest request body taken, in bytes
    #[arg(long, value_name = "BYTES", default_value = "65536")]
    body_limit: usize,
    /// Seconds a request may take, reading it included, before it is answered 408
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    request_timeout: f64,
    /// Seconds running jobs get to finish once the server is asked to stop; then they
    /// are interrupted and roll back
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    shutdown_timeout: f64,
}

pub fn run(args: ServeArgs, env: &Env) -> Result<Done> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        Error::invalid(format!("`--listen {}` is not an address and port", args.listen)).with_hint("e.g. `--listen 127.0.0.1:8080`")
    })?;
    let limits = Limits {
        body: args.body_limit,
        request: seconds(args.request_timeout, "`--request-timeout`")?.max(Duration::from_millis(1)),
        shutdown: seconds(args.shutdown_timeout, "`--shutdown-timeout`")?,
    };
    let ctx = env.context()?;
    crate::server::log_requests(env.output.verbose, env.output.colored());
    let stopped = serve(ctx, listen, limits, &env.reporter)?;
    match stopped {
        Stopped::Cleanly(signal) => {
            env.output.status("Stopped", &format!("on {}; every running job had finished", signal.signal_name()));
            Ok(Done::Success)
        }
        Stopped::Interrupted(signal) => {
            env.output.status("Stopped", &format!("on {}: the jobs still running were interrupted and rolled back", signal.signal_name()));
            Ok(Done::Exit(signal.exit_code()))
        }
    }
}
