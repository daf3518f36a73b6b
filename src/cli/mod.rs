//! The command line: clap types (one file per command: args to options to an ops call to
//! rendering), the printer, and the one place that turns errors into exit codes.

mod archives;
mod backup;
mod check;
mod completions;
mod doctor;
mod enable;
mod events;
mod flags;
mod graph;
mod history;
mod install;
mod jobs;
mod modules;
mod operation;
pub mod output;
mod progress;
mod recover;
mod render;
mod restore_landlord;
mod revert;
mod serve;
mod stats;
mod status;
mod subscription;
mod tenant;
mod token;
mod uninstall;
mod upgrade;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::cli::output::{ColorChoice, Output};
use crate::cli::progress::CliReporter;
use crate::domain::name::{HostName, TenantName};
use crate::domain::{Error, Result};
use crate::ops::{Context, Settings, TenantSelection};
use crate::store::LandlordAccess;
use crate::store::interrupt::{Lines, catch, received};

const ABOUT: &str = "Install, upgrade and uninstall modules per tenant of a multi-tenant SaaS platform";

const LONG_ABOUT: &str = "Install, upgrade and uninstall modules per tenant of a multi-tenant SaaS platform.

modreg discovers module.toml manifests in the modules folder, resolves dependencies with \
semver requirements, and runs every change as a job against a landlord catalog \
(<data>/landlord.db, or PostgreSQL with --landlord) and one SQLite file per tenant \
(<data>/tenants/<tenant>.db, or a PostgreSQL schema per tenant with --tenants-db: an application \
sets `search_path` to the tenant's name, and hooks get MODREG_TENANT_URL, a connection inside the job's \
transaction, and MODREG_TENANT_SCHEMA). A failed job is rolled back; every job, archive and event is kept.";

const AFTER_HELP: &str = "Exit codes: 0 success or nothing to do, 1 failed (rolled back), 2 invalid input, \
3 not found, 4 dependencies, 5 subscription required, 6 busy, 7 storage (a full disk or a damaged landlord or \
tenant file, named in the message: see `modreg doctor`; a landlord that cannot be reached), 130 and 143 \
interrupted by SIGINT (Ctrl-C) and SIGTERM (the work in flight rolled back), 70 internal error.

Environment: MODREG_MODULES, MODREG_DATA, MODREG_LANDLORD, MODREG_TENANTS, MODREG_HOST, MODREG_LOCK_TIMEOUT, \
MODREG_HOOK_TIMEOUT and MODREG_SQL_TIMEOUT (seconds, default 300), MODREG_SQL_MEMORY (bytes or `512MiB`, \
default 1GiB, 0 for none), MODREG_LEASE_SECONDS (default 60), \
MODREG_KEEP_UPGRADE_COPIES (default 3), MODREG_ACTOR, MODREG_SUBSCRIPTION_COMMAND, MODREG_EVENT_COMMAND, NO_COLOR.";

#[derive(Debug, Parser)]
#[command(name = "modreg", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// The modules folder (the catalog)
    #[arg(id = "modules_dir", long = "modules", global = true, value_name = "DIR", env = "MODREG_MODULES", default_value = "modules")]
    modules: PathBuf,
    /// The state folder (landlord, tenant files, archives)
    #[arg(id = "data_dir", long = "data", global = true, value_name = "DIR", env = "MODREG_DATA", default_value = "modreg-data")]
    data: PathBuf,
    /// Print exactly one JSON document on stdout, also on failure
    #[arg(long, global = true)]
    json: bool,
    /// Print nothing but errors (and the JSON document with --json)
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print each job's steps as they run
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// When to color output
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value = "auto")]
    color: ColorChoice,
    /// Seconds to wait for a tenant another process is working on
    #[arg(long, global = true, value_name = "SECONDS", env = "MODREG_LOCK_TIMEOUT", default_value = "30")]
    lock_timeout: f64,
    /// A PostgreSQL landlord that several hosts share (postgres://USER:PASSWORD@HOST:PORT/DB);
    /// without it, <data>/landlord.db
    #[arg(long, global = true, value_name = "URL", env = "MODREG_LANDLORD", hide_env_values = true)]
    landlord: Option<String>,
    /// Tenant databases as schemas of this PostgreSQL database (postgres://USER:PASSWORD@HOST:PORT/DB),
    /// which any host may work on; without it, a SQLite file a tenant in <data>/tenants
    #[arg(long = "tenants-db", global = true, value_name = "URL", env = "MODREG_TENANTS", hide_env_values = true)]
    tenants_db: Option<String>,
    /// This host's name, recorded on its jobs and as the home of the tenants it adds
    /// [default: the hostname]
    #[arg(long, global = true, value_name = "NAME", env = "MODREG_HOST")]
    host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests, dependencies and migrations without touching any state
    Validate(validate::ValidateArgs),
    /// Show the catalog
    Modules(modules::ModulesArgs),
    /// Show the dependency graph of the catalog or of a tenant
    Graph(graph::GraphArgs),
    /// Register, list and remove tenants
    Tenant(tenant::TenantArgs),
    /// Install modules (and what they need) for tenants
    Install(install::InstallArgs),
    /// Uninstall modules from tenants, archiving their data
    Uninstall(uninstall::UninstallArgs),
    /// Upgrade installed modules to newer versions
    Upgrade(upgrade::UpgradeArgs),
    /// Undo a completed upgrade from its kept pre-upgrade copy
    Revert(revert::RevertArgs),
    /// Turn an installed module on for a tenant
    Enable(enable::EnableArgs),
    /// Turn a module off for a tenant, keeping its data
    Disable(enable::DisableArgs),
    /// What each tenant has
    Status(status::StatusArgs),
    /// Per-tenant feature flags
    Flags(flags::FlagsArgs),
    /// Exit 0 if a tenant may use a module (and a flag is on), 1 if not
    Check(check::CheckArgs),
    /// The built-in subscription store
    Subscription(subscription::SubscriptionArgs),
    /// The audit trail of jobs
    Jobs(jobs::JobsArgs),
    /// Finish what interrupted processes left: roll back or complete their jobs
    Recover,
    /// The event log, one JSON object a line
    Events(events::EventsArgs),
    /// Installs, success and rollback rates, durations, failure reasons
    Stats(stats::StatsArgs),
    /// Every version a tenant had of its modules: when, which job, which actor
    History(history::HistoryArgs),
    /// Kept files (archives, pre-upgrade copies, removed tenants' files): list and prune
    Archives(archives::ArchivesArgs),
    /// Check the landlord, the tenant files and the kept files, changing nothing; exit 1 if anything needs attention
    Doctor(doctor::DoctorArgs),
    /// Copy the landlord (and with --tenants every tenant file) into a folder, while others keep working
    Backup(backup::BackupArgs),
    /// Put a landlord backup back, after checking it; the replaced landlord is kept beside it
    RestoreLandlord(restore_landlord::RestoreLandlordArgs),
    /// API tokens for `modreg serve`
    Token(token::TokenArgs),
    /// Serve the HTTP API (see /v1/openapi.json) until SIGINT or SIGTERM
    Serve(serve::ServeArgs),
    /// Print shell completions
    Completions(completions::CompletionsArgs),
    /// Print the man page
    Man,
}

/// How a command ended when it did not fail with an error.
pub enum Done {
    Success,
    /// A non-zero exit without an error message (`check`, a fleet with failures).
    Exit(u8),
}

/// What every command gets: the printer, the reporter and the settings.
pub struct Env {
    pub output: Output,
    pub reporter: CliReporter,
    pub settings: Settings,
}

impl Env {
    /// The stores, with a landlord created when missing.
    pub fn context(&self) -> Result<Context> {
        self.context_for(LandlordAccess::Create)
    }

    /// The stores, with the landlord opened as `access` says.
    pub fn context_for(&self, access: LandlordAccess) -> Result<Context> {
        Ok(Context::new(crate::store::open(&self.settings.store_config(access))?, self.settings.clone()))
    }

    /// For commands that run jobs, from just before their work: SIGINT and SIGTERM no
    /// longer kill the process but roll back the work in flight (SPEC §6), and say so on
    /// stderr (unless `-q`), again at each later signal. Commands that run no jobs leave
    /// the signals as they are: they end the process.
    pub fn catch_interruptions(&self) -> Result<()> {
        let line = |message: &str| Some(format!("{}\n", self.output.status_line("Interrupted", message)));
        let lines = match self.output.quiet {
            true => Lines::default(),
            false => Lines {
                first: line("rolling back the work in flight; nothing new starts"),
                again: line("still rolling back the work in flight: it is not abandoned, and modreg exits once it is undone"),
            },
        };
        catch(lines)
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map(Some).map_err(|_| Error::invalid(format!("`{name}` must be a number, not `{value}`")))
        }
        _ => Ok(None),
    }
}

/// A size as users write one: bytes, or a number with `K`, `M` or `G` (powers of 1024,
/// also as `KiB`, `MB`…).
fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit = text[digits..].trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return None,
    };
    number.checked_mul(1 << shift)
}

fn seconds(value: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| Error::invalid(format!("{what} must be a number of seconds, not `{value}`")))
}

fn settings(cli: &Cli) -> Result<Settings> {
    let mut settings = Settings::new(cli.modules.clone(), cli.data.clone());
    settings.lock_timeout = seconds(cli.lock_timeout, "`--lock-timeout`")?;
    if let Some(secs) = env_number::<f64>("MODREG_HOOK_TIMEOUT")? {
        settings.hook_timeout = seconds(secs, "`MODREG_HOOK_TIMEOUT`")?;
    }
    if let Some(secs) = env_number::<f64>("MODREG_SQL_TIMEOUT")? {
        settings.sql_timeout = seconds(secs, "`MODREG_SQL_TIMEOUT`")?;
    }
    if let Ok(text) = std::env::var("MODREG_SQL_MEMORY")
        && !text.trim().is_empty()
    {
        settings.sql_memory = parse_bytes(&text).ok_or_else(|| {
            Error::invalid(format!("`MODREG_SQL_MEMORY` must be a number of bytes (`1073741824`, `512MiB`, `2G`), not `{text}`"))
        })?;
    }
    if let Some(keep) = env_number::<usize>("MODREG_KEEP_UPGRADE_COPIES")? {
        settings.keep_upgrade_copies = keep;
    }
    settings.actor = std::env::var("MODREG_ACTOR")
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unknown".into());
    settings.subscription_command = std::env::var("MODREG_SUBSCRIPTION_COMMAND").ok().filter(|c| !c.trim().is_empty());
    if let Some(secs) = env_number::<f64>("MODREG_LEASE_SECONDS")? {
        settings.lease = seconds(secs, "`MODREG_LEASE_SECONDS`")?;
    }
    settings.landlord_url = cli.landlord.clone().filter(|url| !url.trim().is_empty());
    settings.tenants_url = cli.tenants_db.clone().filter(|url| !url.trim().is_empty());
    if let Some(host) = cli.host.as_deref().filter(|h| !h.is_empty()) {
        settings.host = HostName::parse(host)?.to_string();
    }
    Ok(settings)
}

/// Which tenants `install`, `upgrade` and `uninstall` work on, and how many at once.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// The tenant (repeat for several)
    #[arg(long = "tenant", short = 't', value_name = "TENANT", required_unless_present_any = ["all_tenants", "all_hosts"])]
    tenants: Vec<String>,
    /// Every registered tenant (of this host, when hosts share the landlord)
    #[arg(long, conflicts_with = "tenants")]
    all_tenants: bool,
    /// Refused: each host works on the tenants whose files it holds
    #[arg(long, conflicts_with_all = ["tenants", "all_tenants"])]
    all_hosts: bool,
    /// Tenants worked on at once (default: the number of cores)
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Stop at the first tenant that fails
    #[arg(long)]
    fail_fast: bool,
}

impl FleetArgs {
    /// `--tenant T…` or `--all-tenants`, names checked before anything is touched.
    pub fn selection(&self) -> Result<TenantSelection> {
        if self.all_hosts {
            return Err(Error::invalid("`--all-hosts` cannot run from one host: each host works only on the tenants whose files it holds")
                .with_hint(
                    "run the command with `--all-tenants` on every host; `modreg tenant list` shows each tenant's host \
                     (with the tenants on PostgreSQL, `--tenants-db`, `--all-tenants` on one host is every tenant)",
                ));
        }
        if self.all_tenants {
            return Ok(TenantSelection::All);
        }
        Ok(TenantSelection::Named(crate::ops::parse_tenants(&self.tenants)?))
    }

    /// The context, with `--jobs` applied.
    pub fn context(&self, env: &Env) -> Result<Context> {
        let mut ctx = env.context()?;
        if let Some(jobs) = self.jobs {
            ctx.settings.jobs = jobs.max(1);
        }
        Ok(ctx)
    }
}

pub fn tenant(name: &str) -> Result<TenantName> {
    Ok(TenantName::parse(name)?)
}

/// Delivers new events to `MODREG_EVENT_COMMAND` after a command that changed state.
fn deliver_events(env: &Env) {
    let Some(command) = std::env::var("MODREG_EVENT_COMMAND").ok().filter(|c| !c.trim().is_empty()) else { return };
    let delivered = env.context().and_then(|ctx| crate::ops::events::deliver(&ctx, &command));
    match delivered {
        Ok(report) => {
            if let Some(failure) = report.failure {
                env.output.warning(&format!("{failure}; undelivered events are retried by the next run"));
            }
        }
        Err(e) => env.output.warning(&format!("cannot deliver events: {}", e.message)),
    }
}

fn run(command: Command, env: &Env) -> Result<Done> {
    let changes_state = matches!(
        command,
        Command::Install(_)
            | Command::Uninstall(_)
            | Command::Upgrade(_)
            | Command::Revert(_)
            | Command::Enable(_)
            | Command::Disable(_)
            | Command::Recover
    ) || matches!(&command, Command::Flags(f) if f.changes_state())
        || matches!(&command, Command::Tenant(t) if t.changes_state());
    let done = match command {
        Command::Validate(args) => validate::run(args, env),
        Command::Modules(args) => modules::run(args, env),
        Command::Graph(args) => graph::run(args, env),
        Command::Tenant(args) => tenant::run(args, env),
        Command::Install(args) => install::run(args, env),
        Command::Uninstall(args) => uninstall::run(args, env),
        Command::Upgrade(args) => upgrade::run(args, env),
        Command::Revert(args) => revert::run(args, env),
        Command::Enable(args) => enable::run_enable(args, env),
        Command::Disable(args) => enable::run_disable(args, env),
        Command::Status(args) => status::run(args, env),
        Command::Flags(args) => flags::run(args, env),
        Command::Check(args) => check::run(args, env),
        Command::Subscription(args) => subscription::run(args, env),
        Command::Jobs(args) => jobs::run(args, env),
        Command::Recover => recover::run(env),
        Command::Events(args) => events::run(args, env),
        Command::Stats(args) => stats::run(args, env),
        Command::History(args) => history::run(args, env),
        Command::Archives(args) => archives::run(args, env),
        Command::Doctor(args) => doctor::run(args, env),
        Command::Backup(args) => backup::run(args, env),
        Command::RestoreLandlord(args) => restore_landlord::run(args, env),
        Command::Token(args) => token::run(args, env),
        Command::Serve(args) => serve::run(args, env),
        Command::Completions(args) => completions::run_completions(args),
        Command::Man => completions::run_man(),
    };
    // An interrupted command stops: its events wait for the next run.
    if changes_state && received().is_none() && !matches!(done, Err(ref e) if e.kind == crate::domain::ErrorKind::Invalid) {
        deliver_events(env);
    }
    done
}

/// The clap command, for completions, the man page and the help snapshots.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as Kind;
    if matches!(e.kind(), Kind::DisplayHelp | Kind::DisplayVersion | Kind::DisplayHelpOnMissingArgumentOrSubcommand) {
        let _ = e.print();
        return if e.kind() == Kind::DisplayHelpOnMissingArgumentOrSubcommand { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    if std::env::args().any(|a| a == "--json") {
        let message = e.to_string();
        let first = message.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_string();
        let output = Output::new(true, true, 0, ColorChoice::Never);
        output.error(&Error::invalid(first).with_hint("run `modreg --help` for usage"));
    } else {
        let _ = e.print();
    }
    ExitCode::from(crate::domain::ErrorKind::Invalid.exit_code())
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let output = Output::new(cli.json, cli.quiet, cli.verbose, cli.color);
    let settings = match settings(&cli) {
        Ok(s) => s,
        Err(e) => {
            output.error(&e);
            return ExitCode::from(e.kind.exit_code());
        }
    };
    let env = Env { reporter: CliReporter::new(output.clone()), output, settings };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli.command, &env))).unwrap_or_else(|panic| {
        let what =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
        Err(Error::internal(format!("modreg hit a bug and stopped: {what}"))
            .with_hint("please report it with the command you ran; `modreg recover` cleans up"))
    });
    match result {
        Ok(Done::Success) => ExitCode::SUCCESS,
        Ok(Done::Exit(code)) => ExitCode::from(code),
        Err(e) => {
            env.output.error(&e);
            // An interrupted command exits with its signal's code.
            ExitCode::from(e.kind.exit_code_after(received()))
        }
    }
}
