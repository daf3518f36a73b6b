//! Runs hooks as processes: in the module folder, with the job's variables, stdout and
//! stderr captured together (bounded), a time limit after which the hook and everything
//! it started are killed, and (on Linux) death of the hook when modreg itself dies.
//! Each hook leads a process group of its own, so a Ctrl-C at the terminal reaches
//! modreg alone; when modreg is interrupted, it kills the groups of the hooks that are
//! running, except those that undo work (rollback hooks), which run to their end.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::domain::job::MAX_HOOK_OUTPUT;
use crate::store::discovery::ModuleHome;
use crate::store::{HookCall, HookOutcome, HookRunner, HookStatus, Interrupts};

/// How often a running hook looks for an interruption: its kill comes this soon after.
const INTERRUPT_POLL: Duration = Duration::from_millis(20);

pub struct ProcessHookRunner {
    interrupts: Arc<dyn Interrupts>,
}

impl ProcessHookRunner {
    /// Hooks that are killed when `interrupts` says the process was interrupted.
    pub fn new(interrupts: Arc<dyn Interrupts>) -> Self {
        ProcessHookRunner { interrupts }
    }
}

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
        if call.interruptible
            && let Some(interruption) = self.interrupts.interrupted()
        {
            return HookOutcome { status: HookStatus::Interrupted(interruption), output: String::new(), duration: Duration::ZERO };
        }
        let could_not_start =
            |why: String| HookOutcome { status: HookStatus::CouldNotStart(why), output: String::new(), duration: started.elapsed() };
        if call.confined
            && let Err(why) = ModuleHome::new(&call.dir).holds(&call.program, "the program")
        {
            return could_not_start(why);
        }
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
        let deadline = started.checked_add(call.timeout);
        let stop = |status: HookStatus| {
            kill_group(pid);
            let _ = status_rx.recv();
            status
        };
        let status = loop {
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                break stop(HookStatus::TimedOut);
            }
            if call.interruptible
                && let Some(interruption) = self.interrupts.interrupted()
            {
                break stop(HookStatus::Interrupted(interruption));
            }
            match status_rx.recv_timeout(if call.interruptible { left.min(INTERRUPT_POLL) } else { left }) {
                Ok(Ok(status)) => {
                    break match (status.code(), status.signal()) {
                        (Some(0), _) => HookStatus::Succeeded,
                        (Some(code), _) => HookStatus::Exited(code),
                        (None, Some(signal)) => HookStatus::Signalled(signal),
                        (None, None) => HookStatus::Exited(-1),
                    };
                }
                Ok(Err(e)) => break HookStatus::CouldNotStart(e.to_string()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break HookStatus::CouldNotStart("lost track of the process".into()),
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
    use crate::domain::Interruption;
    use crate::store::interrupt::Switch;
    use std::path::PathBuf;

    fn runner() -> ProcessHookRunner {
        ProcessHookRunner::new(Arc::new(Switch::default()))
    }

    fn sh_call(script: &str, timeout: Duration) -> HookCall {
        HookCall {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            dir: std::env::temp_dir(),
            env: vec![("MODREG_TENANT".into(), "acme".into())],
            timeout,
            stdin: None,
            interruptible: true,
            confined: false,
        }
    }

    fn sh(script: &str, timeout: Duration) -> HookOutcome {
        runner().run(&sh_call(script, timeout))
    }

    #[test]
    fn an_interruption_kills_a_running_hook_and_its_group_but_not_a_rollback_hook() {
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let path = std::ffi::CString::new(started.display().to_string()).unwrap();
        // SAFETY: mkfifo only reads the NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let switch = Arc::new(Switch::default());
        let runner = Arc::new(ProcessHookRunner::new(switch.clone()));
        // The child `sleep` holds the output pipe: the output is collected only once it is gone.
        let call = sh_call(&format!("sleep 30 & echo started > {}; wait", started.display()), Duration::from_secs(60));
        let clock = Instant::now();
        let running = std::thread::spawn({
            let runner = runner.clone();
            move || runner.run(&call)
        });
        // Blocks until the hook has started its child.
        assert_eq!(std::fs::read_to_string(&started).unwrap(), "started\n");
        switch.set(Interruption::Terminate);
        let outcome = running.join().unwrap();
        assert_eq!(outcome.status, HookStatus::Interrupted(Interruption::Terminate));
        assert!(!outcome.output.contains("output not collected"), "the hook's child outlived it");
        assert!(clock.elapsed() < Duration::from_secs(20));
        // Once interrupted, nothing new starts, but what undoes work runs to its end.
        assert_eq!(runner.run(&sh_call("echo started", Duration::from_secs(60))).status, HookStatus::Interrupted(Interruption::Terminate));
        let rollback = HookCall { interruptible: false, ..sh_call("sleep 0.2; echo done", Duration::from_secs(60)) };
        let outcome = runner.run(&rollback);
        assert_eq!((outcome.status, outcome.output.as_str()), (HookStatus::Succeeded, "done\n"));
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
            interruptible: true,
            confined: false,
        };
        assert!(matches!(runner().run(&call).status, HookStatus::CouldNotStart(_)));
    }

    #[test]
    fn a_module_hook_retargeted_outside_its_folder_is_not_started() {
        let module = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let marker = outside.path().join("ran");
        let script = outside.path().join("hook.sh");
        std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let hook = module.path().join("hook.sh");
        std::os::unix::fs::symlink(&script, &hook).unwrap();
        let call = HookCall { program: hook, dir: module.path().to_path_buf(), confined: true, ..sh_call("", Duration::from_secs(5)) };
        let HookStatus::CouldNotStart(why) = runner().run(&call).status else { panic!("the hook ran") };
        assert!(why.contains("outside the module folder"), "{why}");
        assert!(!marker.exists());
        // The same program, not confined (an event command), runs.
        assert_eq!(runner().run(&HookCall { confined: false, ..call }).status, HookStatus::Succeeded);
        assert!(marker.exists());
    }
}
