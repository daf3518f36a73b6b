//! SIGINT and SIGTERM stop the server gracefully: the listener closes, event streams
//! end, and a job running in the background gets `--shutdown-timeout` to finish (exit
//! 0); past it, the job is interrupted and rolls back as the CLI's do (exit 130 or 143):
//! the tenant file as it was, no job left running, no hook's process behind.

use std::time::Duration;

use serde_json::Value as Json;

use super::{Sse, hold_acme, release, running_jobs, serve, slow_module, started, tenants, world};
use crate::support::{content, ends_within, fifo};

#[tokio::test(flavor = "multi_thread")]
async fn a_job_running_at_sigterm_finishes_within_the_shutdown_timeout_and_the_server_exits_0() {
    let world = world();
    let (started_pipe, go) = slow_module(&world);
    let (server, api) = serve(&world, &["--shutdown-timeout", "30"]);
    let mut stream = Sse::open(&api, "/v1/events/stream?after=0", None).await;
    hold_acme(&api, &started_pipe).await;

    server.signal(libc::SIGTERM);
    // The stream ends (after what it had to send), and no new connection is taken.
    while stream.next().await.is_some() {}
    let deadline = std::time::Instant::now() + super::PATIENCE;
    while tokio::net::TcpStream::connect(server.addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "still listening after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The job was not cut short: it finishes once its hook is let go.
    release(&go).await;
    let run = tokio::task::spawn_blocking(move || server.finish()).await.unwrap();
    run.code(0);
    assert!(run.stderr.contains("Stopped on SIGTERM; every running job had finished"), "{}", run.stderr);
    let job = world.jobs().last().cloned().unwrap();
    assert_eq!((job["module"].as_str(), job["status"].as_str()), (Some("slow"), Some("completed")), "{job:#}");
    assert!(tenants(|| world.has_object("acme", "slow_t")));
    assert!(running_jobs(&world).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_still_running_after_the_shutdown_timeout_rolls_back_and_the_server_exits_130_or_143() {
    for (number, code, name) in [(libc::SIGTERM, 143, "SIGTERM"), (libc::SIGINT, 130, "SIGINT")] {
        let world = world();
        tenants(|| world.sql("acme", "CREATE TABLE app_data (x TEXT); INSERT INTO app_data VALUES ('precious');"));
        let (pid, started_pipe) = (world.path().join("hook.pid"), fifo(&world.path().join("hook.started")));
        world
            .module("long", "long", "1.0.0")
            .migration("V1__long", "CREATE TABLE long_t (x TEXT);")
            .hook("post_install", &format!("sleep 60 &\necho $! > {}\necho started > {}\nwait", pid.display(), started_pipe.display()))
            .write();
        let before = tenants(|| world.dump("acme"));
        let (server, api) = serve(&world, &["--shutdown-timeout", "0.2"]);
        let accepted = api.post("/v1/tenants/acme/modules/long/install", None).await;
        assert_eq!(accepted.status, 202, "{accepted:?}");
        started(&started_pipe).await;
        let sleeper: libc::pid_t = std::fs::read_to_string(&pid).unwrap().trim().parse().unwrap();

        let run = tokio::task::spawn_blocking(move || server.stop(number)).await.unwrap();
        // As `events --follow`: a status line says how it stopped, with the exit code.
        run.exit(code);
        assert!(run.stderr_lines("error:").is_empty(), "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("Stopped on {name}: the jobs still running were interrupted and rolled back")),
            "{}",
            run.stderr
        );
        let job = world.jobs().last().cloned().unwrap();
        assert_eq!((job["module"].as_str(), job["status"].as_str()), (Some("long"), Some("rolled_back")), "{name}: {job:#}");
        let reason = job["error"].as_str().unwrap();
        assert!(reason.starts_with(&format!("interrupted by {name}: post_install hook of `long 1.0.0` was killed")), "{reason}");
        assert_eq!(content(&tenants(|| world.dump("acme"))), content(&before), "{name}: the tenant file changed");
        assert!(!tenants(|| world.has_object("acme", "long_t")));
        assert!(ends_within(sleeper, Duration::from_secs(5)), "{name}: the hook's grandchild outlived the server");
        assert!(running_jobs(&world).is_empty(), "{name}: {:#?}", running_jobs(&world));
        assert_eq!(world.json(&["recover"])["tenants"], Json::Array(vec![]), "{name}: nothing left to recover");
    }
}
