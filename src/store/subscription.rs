//! Subscription sources: the built-in store in the landlord, and an external command for
//! platforms whose billing lives elsewhere (`MODREG_SUBSCRIPTION_COMMAND`, called with
//! tenant and module: exit 0 allowed, 1 denied, anything else an error).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Error, Result};
use crate::store::{HookCall, HookRunner, HookStatus, Landlord, SubscriptionSource};

pub struct BuiltinSubscriptions {
    landlord: Arc<dyn Landlord>,
}

impl BuiltinSubscriptions {
    pub fn new(landlord: Arc<dyn Landlord>) -> Self {
        BuiltinSubscriptions { landlord }
    }
}

impl SubscriptionSource for BuiltinSubscriptions {
    fn allows(&self, tenant: &str, module: &str, today: &str) -> Result<bool> {
        Ok(self.landlord.subscriptions(tenant)?.iter().any(|s| s.module == module && s.is_active(today)))
    }

    fn describe(&self) -> String {
        "the built-in subscription store".into()
    }
}

pub struct CommandSubscriptions {
    command: String,
    runner: Arc<dyn HookRunner>,
    timeout: Duration,
}

impl CommandSubscriptions {
    pub fn new(command: String, runner: Arc<dyn HookRunner>, timeout: Duration) -> Self {
        CommandSubscriptions { command, runner, timeout }
    }
}

impl SubscriptionSource for CommandSubscriptions {
    fn allows(&self, tenant: &str, module: &str, _today: &str) -> Result<bool> {
        let call = HookCall {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), format!("{} \"$@\"", self.command), "modreg-subscription".into(), tenant.into(), module.into()],
            dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            env: vec![("MODREG_TENANT".into(), tenant.into()), ("MODREG_MODULE".into(), module.into())],
            timeout: self.timeout,
            stdin: None,
            interruptible: true,
            confined: false,
        };
        let outcome = self.runner.run(&call);
        let output = outcome.output.trim();
        let said = if output.is_empty() { String::new() } else { format!(": {output}") };
        match outcome.status {
            HookStatus::Succeeded => Ok(true),
            HookStatus::Exited(1) => Ok(false),
            HookStatus::Exited(code) => Err(Error::failed(format!(
                "the subscription command `{}` exited with {code} for tenant `{tenant}` and module `{module}`{said}",
                self.command
            ))
            .with_hint("it must exit 0 (allowed) or 1 (denied)")),
            HookStatus::Signalled(signal) => {
                Err(Error::failed(format!("the subscription command `{}` was killed by signal {signal}", self.command)))
            }
            HookStatus::TimedOut => {
                Err(Error::failed(format!("the subscription command `{}` did not answer within {:?}", self.command, self.timeout)))
            }
            HookStatus::Interrupted(interruption) => {
                Err(Error::interrupted(interruption, format!("the subscription command `{}` was killed", self.command)))
            }
            HookStatus::CouldNotStart(why) => Err(Error::failed(format!("cannot run the subscription command `{}`: {why}", self.command))),
        }
    }

    fn describe(&self) -> String {
        format!("the subscription command `{}`", self.command)
    }
}
