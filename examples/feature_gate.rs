//! Gating features per tenant with the modreg library API, the way an application
//! would: one `Registry` for the process, asked on every request.
//!
//! ```sh
//! cargo run --example feature_gate -- modreg-data acme globex
//! cargo run --example feature_gate -- modreg-data acme --watch   # follow changes
//! ```

use std::time::Duration;

use modreg::api::Registry;

/// A screen of the application and what it needs: a module, and a flag of it.
const SCREENS: &[(&str, &str, Option<&str>)] = &[
    ("Member directory", "membership", Some("member_directory")),
    ("Digital card", "digital_card", None),
    ("Invoices", "finance", Some("invoicing")),
    ("Recurring billing", "finance", Some("recurring_billing")),
    ("Elections", "elections", None),
    ("Forum", "forum", None),
];

fn menu(registry: &Registry, tenant: &str) -> Result<String, modreg::domain::Error> {
    if !registry.has_tenant(tenant)? {
        return Ok(format!("{tenant}: unknown tenant\n"));
    }
    let mut out = format!("{tenant}:\n");
    for (screen, module, flag) in SCREENS {
        let shown = registry.allows(tenant, module, *flag)?;
        out.push_str(&format!("  [{}] {screen}\n", if shown { "x" } else { " " }));
    }
    Ok(out)
}

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let watch = args.iter().any(|a| a == "--watch");
    args.retain(|a| a != "--watch");
    let Some((data, tenants)) = args.split_first() else {
        eprintln!("usage: feature_gate DATA_DIR TENANT… [--watch]");
        return std::process::ExitCode::from(2);
    };
    let registry = match Registry::open(data) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(e.kind.exit_code());
        }
    };
    let mut last = String::new();
    loop {
        let mut now = String::new();
        for tenant in tenants {
            match menu(&registry, tenant) {
                Ok(text) => now.push_str(&text),
                Err(e) => now.push_str(&format!("{tenant}: error: {e}\n")),
            }
        }
        if now != last {
            print!("{now}");
            last = now;
        }
        if !watch {
            return std::process::ExitCode::SUCCESS;
        }
        // The registry notices other processes' changes by itself; polling it is cheap.
        std::thread::sleep(Duration::from_millis(500));
    }
}
