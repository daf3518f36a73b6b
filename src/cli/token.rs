//! `modreg token create NAME [--tenant T…] [--read-only]`, `token list`, `token revoke NAME`

use clap::{Args, Subcommand};

use crate::cli::output::print_stdout;
use crate::cli::render::{or_dash, table, text};
use crate::cli::{Done, Env};
use crate::domain::Result;
use crate::domain::name::TokenName;
use crate::ops::{parse_tenants, token};
use crate::store::TokenRecord;

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it, this once: the landlord keeps only its SHA-256
    Create {
        /// What to call it: unique among the tokens not revoked
        #[arg(value_name = "NAME")]
        name: String,
        /// A tenant the token may see and touch (repeat for several); without it, every tenant
        #[arg(long = "tenant", short = 't', value_name = "TENANT")]
        tenants: Vec<String>,
        /// The token may read, and change nothing
        #[arg(long)]
        read_only: bool,
    },
    /// Every token with what it may do, revoked ones included (never a token itself)
    List,
    /// Revoke a token: no request is accepted with it from now on
    Revoke {
        /// The token's name
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `token list --json`.
#[derive(serde::Serialize)]
struct TokenList<'a> {
    tokens: &'a [TokenRecord],
}

/// What a token may do, as the status line and the table say it.
fn scope(record: &TokenRecord) -> String {
    let tenants = match record.tenants.as_slice() {
        [] => "every tenant".to_string(),
        [one] => format!("tenant {one}"),
        many => format!("tenants {}", many.join(", ")),
    };
    if record.read_only { format!("may only read {tenants}") } else { format!("may read and change {tenants}") }
}

pub fn run(args: TokenArgs, env: &Env) -> Result<Done> {
    match args.command {
        TokenCommand::Create { name, tenants, read_only } => {
            let (name, tenants) = (TokenName::parse(&name)?, parse_tenants(&tenants)?);
            let created = token::create(&env.context()?, &name, &tenants, read_only)?;
            // The token is the one thing this prints, and there is no second chance to
            // see it: printed with `-q` too.
            match env.output.json {
                true => env.output.json_document(&created),
                false => print_stdout(&format!("{}\n", created.token)),
            }
            let what = scope(&created.record);
            env.output.status("Created", &format!("token {name}, which {what}: store it now, it cannot be shown again"));
        }
        TokenCommand::List => {
            let tokens = token::list(&env.context()?)?;
            env.output.data(&TokenList { tokens: &tokens }, || {
                let mut t = table(["name", "tenants", "read-only", "created", "revoked"]);
                for r in &tokens {
                    t.add_row([
                        r.name.clone(),
                        if r.tenants.is_empty() { "all".to_string() } else { r.tenants.join(", ") },
                        if r.read_only { "yes".to_string() } else { "no".to_string() },
                        r.created_at.clone(),
                        or_dash(r.revoked_at.as_deref()),
                    ]);
                }
                text(t)
            });
        }
        TokenCommand::Revoke { name } => {
            let name = TokenName::parse(&name)?;
            let report = token::revoke(&env.context()?, &name)?;
            env.output.data(&report, String::new);
            match report.changed {
                true => env.output.status("Revoked", &format!("token {name}")),
                false => env.output.status("Unchanged", &format!("token {name} was already revoked at {}", report.revoked_at)),
            }
        }
    }
    Ok(Done::Success)
}
