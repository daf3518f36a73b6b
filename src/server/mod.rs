//! `modreg serve`: the HTTP API of SPEC §10, on axum and tokio, over the same use-cases,
//! landlord and tenant files as the CLI.
//!
//! The map: [`problem`] (every error as `application/problem+json`, and the one table of
//! status codes), [`auth`] (bearer tokens and what a token may see), [`extract`] (bodies,
//! queries and paths whose rejections are problems), [`state`] (what requests share:
//! the stores, claimed tenants, background batches), [`metrics`], [`openapi`], and
//! `routes`, one file per resource. Handlers are thin: check rights, parse names, run
//! the use-case on a blocking thread, answer its report.
//!
//! Stopping (SIGINT, SIGTERM): the listener closes and requests in flight finish; event
//! streams end; batches running in the background get `--shutdown-timeout` to finish,
//! then are interrupted and roll back, as the CLI's are, and the exit code says so.

mod auth;
mod extract;
mod metrics;
pub mod openapi;
pub mod problem;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{Error, Interruption, Result};
use crate::ops::{Context, Reporter};
use crate::server::state::AppState;
pub use crate::server::state::Limits;

/// With `-v`, a line on stderr per answer (method, path, status, latency); with `-vv`,
/// also each request as it arrives.
pub fn log_requests(verbose: u8, color: bool) {
    let level = match verbose {
        0 => return,
        1 => Level::INFO,
        _ => Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).with_target(false).with_ansi(color).try_init();
}

/// How `serve` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every batch finished.
    Cleanly(Interruption),
    /// Batches still ran after `--shutdown-timeout` (or a second signal): they were
    /// interrupted and rolled back.
    Interrupted(Interruption),
}

/// The routes, with the OpenAPI document they describe.
fn api(state: Arc<AppState>) -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    use routes::*;
    let authenticated = OpenApiRouter::<Arc<AppState>>::new()
        .routes(routes!(modules::list))
        .routes(routes!(modules::show))
        .routes(routes!(modules::graph))
        .routes(routes!(validate::validate))
        .routes(routes!(tenants::list, tenants::add))
        .routes(routes!(tenants::show, tenants::remove))
        .routes(routes!(tenants::modules))
        .routes(routes!(tenants::history))
        .routes(routes!(tenants::check))
        .routes(routes!(operations::install))
        .routes(routes!(operations::upgrade))
        .routes(routes!(operations::uninstall))
        .routes(routes!(operations::enable))
        .routes(routes!(operations::disable))
        .routes(routes!(operations::batch))
        .routes(routes!(flags::list))
        .routes(routes!(flags::set))
        .routes(routes!(subscriptions::list))
        .routes(routes!(subscriptions::grant, subscriptions::revoke))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::show))
        .routes(routes!(events::list))
        .routes(routes!(events::stream))
        .routes(routes!(stats::stats))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::document))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate));
    // The document of the outer router is the one kept: modreg's (a bare `new()` has
    // utoipa-axum's own title and version).
    let (router, mut doc) =
        OpenApiRouter::with_openapi(openapi::base()).routes(routes!(health::healthz)).merge(authenticated).split_for_parts();
    openapi::finish(&mut doc);
    (router, doc)
}

/// The whole service: routes, limits, problem bodies and metrics.
pub fn app(mut ctx: Context, limits: Limits) -> (Router, Arc<AppState>) {
    // Every request that needs the catalog discovers it; unchanged, it is not read again.
    ctx.stores.modules = crate::store::cached_module_source(vec![ctx.settings.modules_dir.clone()]);
    let state = Arc::new(AppState::new(ctx, limits));
    let (router, doc) = api(state.clone());
    let doc = openapi::Document(Arc::new(doc.to_json().unwrap_or_default()));
    // The last layer is the outermost: errors the limits answer get problem bodies too.
    let router = router
        .layer(axum::Extension(doc))
        .layer(axum::extract::DefaultBodyLimit::max(limits.body))
        .layer(RequestBodyLimitLayer::new(limits.body))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, limits.request))
        .layer(middleware::from_fn_with_state(state.clone(), measure))
        .layer(middleware::map_response(problem::problem_for_bare_errors))
        // A line per answer, for `modreg -v serve`.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state.clone());
    (router, state)
}

/// Counts every answer by route and status, with its duration.
async fn measure(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// Serves until SIGINT or SIGTERM, saying on `reporter` where it listens and how it
/// stops.
pub fn serve(ctx: Context, listen: SocketAddr, limits: Limits, reporter: &dyn Reporter) -> Result<Stopped> {
    crate::store::lock::allow_open_files(8192);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("modreg-serve")
        .max_blocking_threads(256)
        .build()
        .map_err(|e| Error::internal(format!("cannot start the server's runtime: {e}")))?;
    let (router, state) = app(ctx, limits);
    let served = runtime.block_on(run(router, state.clone(), listen, limits, reporter));
    // The runtime's tasks hold the state too (a batch's, until just after the server
    // saw it end): it is dropped last, here, off the runtime's threads, since closing
    // a PostgreSQL landlord's connections blocks, which a runtime's thread may not do.
    drop(runtime);
    drop(state);
    served
}

/// Listens, serves until SIGINT or SIGTERM, then waits for the batches as `serve` says.
async fn run(router: Router, state: Arc<AppState>, listen: SocketAddr, limits: Limits, reporter: &dyn Reporter) -> Result<Stopped> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Error::invalid(format!("cannot listen on {listen}: {e}")).with_hint("choose another address with `--listen ADDR:PORT`")
    })?;
    let local = listener.local_addr().map_err(|e| Error::internal(e.to_string()))?;
    watch_landlord(&state);
    reporter.status("Listening", &format!("on http://{local} (the API is described at /v1/openapi.json)"));
    let interruption = accept(listener, router, &state, limits).await;
    if state.idle(Duration::ZERO).await {
        return Ok(Stopped::Cleanly(interruption));
    }
    reporter.status(
        "Stopping",
        &format!(
            "on {}: waiting up to {}s for the running jobs to finish; a second signal rolls them back now",
            interruption.signal_name(),
            limits.shutdown.as_secs_f64()
        ),
    );
    tokio::select! {
        finished = state.idle(limits.shutdown) => if finished {
            return Ok(Stopped::Cleanly(interruption));
        },
        _ = stop_signal() => {}
    }
    // Out of patience: the jobs in flight stop and roll back, as the CLI's do.
    reporter.status("Interrupted", "rolling back the jobs still running");
    crate::store::interrupt::raise(interruption);
    state.idle(Duration::MAX).await;
    Ok(Stopped::Interrupted(interruption))
}

/// Serves connections until SIGINT or SIGTERM, then stops accepting, lets the requests
/// in flight finish (up to `--request-timeout`) and returns the signal. A client gets
/// `--request-timeout` to send its request's head (and the timeout layer bounds the
/// rest), so a slow client holds a connection no longer than that.
async fn accept(listener: tokio::net::TcpListener, router: Router, state: &Arc<AppState>, limits: Limits) -> Interruption {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let signal = stop_signal();
    tokio::pin!(signal);
    let interruption = loop {
        tokio::select! {
            interruption = &mut signal => break interruption,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, most likely: let connections close.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new()).header_read_timeout(limits.request);
                let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        }
    };
    drop(listener);
    state.stopping.send_replace(true);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.request) => {}
    }
    interruption
}

/// The first SIGINT or SIGTERM.
async fn stop_signal() -> Interruption {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => Interruption::Interrupt,
        _ = term.recv() => Interruption::Terminate,
    }
}

/// Wakes the event streams when another process (a CLI command, another host) commits
/// to the landlord: a thread that waits on the landlord's change counter.
fn watch_landlord(state: &Arc<AppState>) {
    let weak = Arc::downgrade(state);
    let _ = std::thread::Builder::new().name("modreg-watch".into()).spawn(move || {
        let mut seen = None;
        loop {
            let Some(state) = weak.upgrade() else { return };
            if *state.stopping.borrow() {
                return;
            }
            let landlord = state.base().landlord.clone();
            drop(state);
            let now = match seen {
                None => landlord.data_version().ok(),
                Some(seen) => landlord.wait_for_change(seen, Duration::from_millis(500)).ok(),
            };
            if let (Some(now), Some(state)) = (now, weak.upgrade()) {
                if seen.is_some_and(|s| s != now) {
                    state.changed();
                }
                seen = Some(now);
            } else {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    });
}
