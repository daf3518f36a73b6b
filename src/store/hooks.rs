//! Runs hooks as processes: in the module folder, with the job's variables, stdout and
//! stderr captured together (bounded), a time limit after which the hook and everything
//! it started are killed, and (on Linux) death of the hook when modreg itself dies.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::domain::job::MAX_HOOK_OUTPUT;
use crate::store::{HookCall, HookOutcome, HookRunner, HookStatus};

#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessHookRunner;

/// Keeps the first and last halves of the output budget.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: usize,
}

impl Capture {
    fn push(&mut self, bytes: &[u8]) {
        let half = MAX_HOOK_OUTPUT / 2;
        let room = half.saturating_sub(self.head.len());
        let (first, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(first);
        self.tail.extend(rest);
        while self.tail.len() > half {
            let excess = self.tail.len() - half;
            self.tail.drain(..excess);
            self.dropped += excess;
        }
    }

    fn finish(self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!("\n… {} bytes not kept …\n", self.dropped));
        }
        let tail: Vec<u8> = self.tail.into_iter().collect();
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group the hook leads.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

impl HookRunner for ProcessHookRunner {
    fn run(&self, call: &HookCall) -> HookOutcome {
        let started = Instant::now();
        let could_not_start =
            |why: String| HookOutcome { status: HookStatus::CouldNotStart(why), output: String::new(), duration: started.elapsed() };
        let (mut reader, writer) = match std::io::pipe() {
            Ok(pair) => pair,
            Err(e) => return could_not_start(e.to_string()),
        };
        let writer_err = match writer.try_clone() {
            Ok(w) => w,
            Err(e) => return could_not_start(e.to_string()),
        };
        let mut command = Command::new(&call.program);
        command
            .args(&call.args)
            .current_dir(&call.dir)
            .stdin(if call.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(writer)
            .stderr(writer_err)
            .envs(call.env.iter().map(|(k, v)| (k, v)))
            .process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe; it asks the kernel to kill the hook if the
        // modreg thread that started it dies, so a killed modreg leaves no hook running.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let spawned = command.spawn();
        // Close our ends of the pipe's write side, or reading would never end.
        drop(command);
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return could_not_start(format!("cannot run `{}`: {e}", call.program.display())),
        };
        let pid = child.id();
        if let (Some(input), Some(mut stdin)) = (call.stdin.clone(), child.stdin.take()) {
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(input.as_bytes());
            });
        }
        let (output_tx, output_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut capture = Capture::default();
            let mut buffer = [0u8; 8192];
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => capture.push(&buffer[..n]),
                }
            }
            let _ = output_tx.send(capture.finish());
        });
        let (status_tx, status_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = status_tx.send(child.wait());
        });
        let status = match status_rx.recv_timeout(call.timeout) {
            Ok(Ok(status)) => match (status.code(), status.signal()) {
                (Some(0), _) => HookStatus::Succeeded,
                (Some(code), _) => HookStatus::Exited(code),
                (None, Some(signal)) => HookStatus::Signalled(signal),
                (None, None) => HookStatus::Exited(-1),
            },
            Ok(Err(e)) => HookStatus::CouldNotStart(e.to_string()),
            Err(_) => {
                kill_group(pid);
                let _ = status_rx.recv();
                HookStatus::TimedOut
            }
        };
        // Whatever the hook left running in its group goes with it.
        kill_group(pid);
        let output = output_rx
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_else(|_| "(output not collected: a process the hook started still holds it)".into());
        HookOutcome { status, output, duration: started.elapsed() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sh(script: &str, timeout: Duration) -> HookOutcome {
        let call = HookCall {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            dir: std::env::temp_dir(),
            env: vec![("MODREG_TENANT".into(), "acme".into())],
            timeout,
            stdin: None,
        };
        ProcessHookRunner.run(&call)
    }

    #[test]
    fn captures_output_and_exit_codes() {
        let ok = sh("echo out; echo err >&2; echo $MODREG_TENANT", Duration::from_secs(10));
        assert_eq!(ok.status, HookStatus::Succeeded);
        assert_eq!(ok.output, "out\nerr\nacme\n");
        assert_eq!(sh("exit 3", Duration::from_secs(10)).status, HookStatus::Exited(3));
    }

    #[test]
    fn a_hook_past_its_time_is_killed_with_its_children() {
        let started = Instant::now();
        let outcome = sh("sleep 30 & sleep 30", Duration::from_millis(200));
        assert_eq!(outcome.status, HookStatus::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn long_output_is_bounded() {
        let outcome =
            sh("i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done", Duration::from_secs(30));
        assert!(outcome.output.len() <= MAX_HOOK_OUTPUT + 100, "{}", outcome.output.len());
        assert!(outcome.output.starts_with("line-0-") && outcome.output.trim_end().ends_with("line-2999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
        assert!(outcome.output.contains("bytes not kept"));
    }

    #[test]
    fn a_missing_program_could_not_start() {
        let call = HookCall {
            program: PathBuf::from("/nonexistent/hook.sh"),
            args: vec![],
            dir: std::env::temp_dir(),
            env: vec![],
            timeout: Duration::from_secs(1),
            stdin: None,
        };
        assert!(matches!(ProcessHookRunner.run(&call).status, HookStatus::CouldNotStart(_)));
    }
}
