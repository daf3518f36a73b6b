//! `modreg token create|list|revoke`: the secret printed once and kept only as its
//! SHA-256, names and tenants checked before anything is touched, revocation idempotent,
//! and the library's `authenticate` (what `modreg serve` asks) agreeing with all of it.

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::support::{World, same_width};

macro_rules! snapshot {
    ($world:expr, $name:expr, $text:expr) => {{
        crate::support::world_snapshot_settings(&$world).bind(|| insta::assert_snapshot!(format!("cli__token__{}", $name), $text));
    }};
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A world with tenants `acme` and `globex`.
fn world() -> World {
    let world = World::new();
    world.ok(&["tenant", "add", "acme", "globex"]);
    world
}

/// `(name, sha256)` of every token the landlord holds, oldest first, read from the
/// landlord itself.
fn held(world: &World) -> Vec<(String, String)> {
    let sql = "SELECT name, sha256 FROM tokens ORDER BY id";
    match &world.landlord_url {
        Some(url) => {
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            client.query(sql, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
        }
        None => {
            let landlord = world.landlord();
            let mut stmt = landlord.prepare(sql).unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        }
    }
}

/// Every byte of the data folder's files (the SQLite landlord with its write-ahead log,
/// the tenant files); on PostgreSQL, every row of the landlord's tables as text; and on
/// PostgreSQL tenants, every row of every table of the tenants database as text.
fn everything_kept(world: &World) -> Vec<u8> {
    let mut all = landlord_and_files(world);
    if let Some(url) = &world.tenants_url {
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let tables: Vec<String> = client
            .query(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(tables.iter().any(|t| t == "acme._modreg_modules"), "{tables:?}");
        for table in tables {
            for row in client.query(&format!("SELECT t::text FROM {table} t"), &[]).unwrap() {
                all.extend(row.get::<_, String>(0).into_bytes());
            }
        }
    }
    all
}

/// The landlord's part of [`everything_kept`], with the tenant files in the data folder.
fn landlord_and_files(world: &World) -> Vec<u8> {
    match &world.landlord_url {
        Some(url) => {
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            let tables: Vec<String> = client
                .query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(tables.iter().any(|t| t == "tokens"), "{tables:?}");
            let mut all = Vec::new();
            for table in tables {
                for row in client.query(&format!("SELECT t::text FROM \"{table}\" t"), &[]).unwrap() {
                    all.extend(row.get::<_, String>(0).into_bytes());
                }
            }
            all
        }
        None => {
            let mut all = Vec::new();
            let mut folders = vec![world.data()];
            while let Some(folder) = folders.pop() {
                for entry in std::fs::read_dir(folder).unwrap().map(Result::unwrap) {
                    match entry.file_type().unwrap().is_dir() {
                        true => folders.push(entry.path()),
                        false => all.extend(std::fs::read(entry.path()).unwrap()),
                    }
                }
            }
            all
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `modreg_` and 64 lowercase hex digits.
fn is_secret(text: &str) -> bool {
    text.strip_prefix("modreg_").is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// The library's view of the world's stores, as `modreg serve` would open them.
fn context(world: &World) -> modreg::ops::Context {
    let mut settings = modreg::ops::Settings::new(world.modules(), world.data());
    settings.landlord_url = world.landlord_url.clone();
    settings.tenants_url = world.tenants_url.clone();
    modreg::ops::Context::open(settings).expect("open the stores")
}

#[test]
fn create_prints_the_token_once_and_the_landlord_keeps_only_its_sha256() {
    let world = world();
    let run = world.ok(&["token", "create", "ci", "--tenant", "acme", "--read-only"]);
    let secret = run.stdout.strip_suffix('\n').expect("one line");
    assert!(is_secret(secret) && !secret.contains('\n'), "stdout is the token alone: {:?}", run.stdout);
    assert!(run.stderr.contains("Created token ci, which may only read tenant acme"), "{}", run.stderr);
    assert!(run.stderr.contains("it cannot be shown again"), "{}", run.stderr);
    assert!(!run.stderr.contains(secret), "the token is data, on stdout only");

    assert_eq!(held(&world), [("ci".to_string(), sha256(secret))]);
    assert_eq!(modreg::ops::token::digest(secret), sha256(secret));
    let kept = everything_kept(&world);
    assert!(contains(&kept, &sha256(secret)), "the digest is where it was looked for");
    assert!(!contains(&kept, secret), "the token itself is kept nowhere");
    assert!(!contains(&kept, &secret["modreg_".len()..]), "nor its random part");

    let again = world.ok(&["token", "create", "deploy"]);
    assert!(again.stderr.contains("which may read and change every tenant"), "{}", again.stderr);
    assert_ne!(again.stdout, run.stdout, "every token is new");
    assert!(world.ok(&["token", "list"]).stdout.lines().all(|l| !l.contains("modreg_")), "list shows no token");
}

#[test]
fn create_with_json_gives_the_token_and_what_it_may_do() {
    let world = world();
    let created = world.json(&["token", "create", "ci", "--tenant", "globex", "--tenant", "acme", "--tenant", "globex"]);
    let secret = created["token"].as_str().unwrap();
    assert!(is_secret(secret), "{created}");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["tenants"], json!(["globex", "acme"]), "as given, each once");
    assert_eq!(created["read_only"], false);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'), "{created}");
    assert_eq!(held(&world), [("ci".to_string(), sha256(secret))]);

    let quiet = world.run(&["-q", "token", "create", "quiet"]);
    quiet.code(0);
    assert!(is_secret(quiet.stdout.trim_end()), "`-q` still prints the token, which cannot be seen later: {:?}", quiet.stdout);
    assert_eq!(quiet.stderr, "");
}

#[test]
fn bad_names_exit_2_and_touch_nothing() {
    let world = World::new();
    for args in [
        vec!["token", "create", "CI"],
        vec!["token", "create", "ci bot"],
        vec!["token", "create", "--", "-ci"],
        vec!["token", "create", ".ci"],
        vec!["token", "create", ""],
        vec!["token", "create", &"t".repeat(64)],
        vec!["token", "create", "ci", "--tenant", "Acme"],
        vec!["token", "revoke", "ci/1"],
    ] {
        let run = world.run(&args);
        run.code(2);
        let run = world.run(&[&["--json"], &args[..]].concat());
        run.code(2);
        assert_eq!(run.error()["kind"], "invalid", "{args:?}");
        assert!(run.error()["hint"].as_str().unwrap().contains("1 to 63 characters"), "{}", run.stdout);
    }
    if world.landlord_url.is_none() {
        assert!(!world.data().exists(), "refused before the landlord was opened");
    }
    world.ok(&["tenant", "add", "acme"]);
    world.run(&["token", "create", "CI", "--tenant", "acme"]).code(2);
    assert!(held(&world).is_empty());
    assert_eq!(world.json(&["token", "list"]), json!({"tokens": []}));
}

#[test]
fn a_tenant_that_is_not_registered_is_not_found_and_no_token_is_made() {
    let world = world();
    let run = world.run(&["token", "create", "ci", "--tenant", "acme", "--tenant", "globx", "--json"]);
    run.code(3);
    assert_eq!(run.error()["kind"], "not_found");
    assert_eq!(run.error()["message"], "tenant `globx` does not exist");
    assert_eq!(run.error()["hint"], "a tenant with a similar name exists: `globex`");
    let human = world.run(&["token", "create", "ci", "--tenant", "initech"]);
    human.code(3);
    assert!(human.stdout.is_empty(), "no token printed: {}", human.stdout);
    assert!(held(&world).is_empty());
}

#[test]
fn list_shows_every_token_by_name_with_what_it_may_do() {
    let world = world();
    world.ok(&["token", "create", "reports", "--tenant", "globex", "--tenant", "acme", "--read-only"]);
    world.ok(&["token", "create", "deploy"]);
    world.ok(&["token", "create", "old"]);
    world.ok(&["token", "revoke", "old"]);
    let list = world.json(&["token", "list"]);
    let tokens = list["tokens"].as_array().unwrap();
    let names: Vec<&str> = tokens.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["deploy", "old", "reports"]);
    for token in tokens {
        let mut keys: Vec<&str> = token.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "name", "read_only", "revoked_at", "tenants"], "never a token or a digest: {token}");
    }
    assert_eq!((&tokens[0]["tenants"], &tokens[0]["read_only"], &tokens[0]["revoked_at"]), (&json!([]), &json!(false), &Json::Null));
    assert!(tokens[1]["revoked_at"].is_string());
    assert_eq!((&tokens[2]["tenants"], &tokens[2]["read_only"]), (&json!(["globex", "acme"]), &json!(true)));

    let human = world.ok(&["token", "list"]).stdout;
    let times: Vec<&str> = tokens.iter().flat_map(|t| [t["created_at"].as_str(), t["revoked_at"].as_str()]).flatten().collect();
    snapshot!(world, "human_list", same_width(&human, &times, "[time]"));
}

#[test]
fn revoke_ends_a_token_once_and_its_name_can_be_used_again() {
    let world = world();
    let first = world.ok(&["token", "create", "ci"]).stdout;
    let revoked = world.json(&["token", "revoke", "ci"]);
    assert_eq!((&revoked["name"], &revoked["changed"]), (&json!("ci"), &json!(true)));
    let at = revoked["revoked_at"].as_str().unwrap().to_string();
    assert_eq!(world.json(&["token", "list"])["tokens"][0]["revoked_at"], at.as_str());

    let twice = world.run(&["token", "revoke", "ci"]);
    twice.code(0);
    assert!(twice.stderr.contains(&format!("token ci was already revoked at {at}")), "{}", twice.stderr);
    let twice = world.json(&["token", "revoke", "ci"]);
    assert_eq!(twice, json!({"name": "ci", "changed": false, "revoked_at": at}));

    let second = world.ok(&["token", "create", "ci"]).stdout;
    let tokens = world.json(&["token", "list"])["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 2, "the revoked one stays on record: {tokens:?}");
    assert!(tokens[0]["revoked_at"].is_string() && tokens[1]["revoked_at"].is_null(), "{tokens:?}");
    assert_eq!(held(&world), [("ci".to_string(), sha256(first.trim_end())), ("ci".to_string(), sha256(second.trim_end()))]);
    assert!(world.ok(&["token", "revoke", "ci"]).stderr.contains("Revoked token ci"));
}

#[test]
fn failures_have_their_kind_message_and_hint() {
    let world = world();
    world.ok(&["token", "create", "deploy"]);
    let taken = world.run(&["token", "create", "deploy", "--json"]);
    taken.code(2);
    let never = world.run(&["token", "revoke", "deplyo", "--json"]);
    never.code(3);
    let unknown = world.run(&["token", "revoke", "ci", "--json"]);
    unknown.code(3);
    let errors = json!({"taken": taken.json(), "never_created": never.json(), "nothing_alike": unknown.json()});
    snapshot!(world, "json_errors", serde_json::to_string_pretty(&errors).unwrap());
    let human = world.run(&["token", "create", "deploy"]);
    human.code(2);
    assert!(human.stdout.is_empty(), "no token printed: {}", human.stdout);
    assert_eq!(held(&world).len(), 1, "the existing token is not overwritten");
}

#[test]
fn authenticate_knows_a_created_token_until_it_is_revoked() {
    let world = world();
    let created = world.json(&["token", "create", "reports", "--tenant", "acme", "--read-only"]);
    let secret = created["token"].as_str().unwrap();
    let ctx = context(&world);
    let found = modreg::ops::token::authenticate(&ctx, secret).unwrap().expect("a live token");
    assert_eq!((found.name.as_str(), found.tenants.as_slice(), found.read_only), ("reports", &["acme".to_string()][..], true));
    assert_eq!(found.revoked_at, None);

    let other = format!("modreg_{}", "0".repeat(64));
    for wrong in [other.as_str(), "", "modreg_", &secret.to_uppercase(), &format!("Bearer {secret}"), &secret[..secret.len() - 1]] {
        assert_eq!(modreg::ops::token::authenticate(&ctx, wrong).unwrap(), None, "{wrong:?}");
    }

    world.ok(&["token", "revoke", "reports"]);
    assert_eq!(modreg::ops::token::authenticate(&ctx, secret).unwrap(), None, "revoked: refused at once, by a handle opened before");
    let next = world.json(&["token", "create", "reports"]);
    let found = modreg::ops::token::authenticate(&ctx, next["token"].as_str().unwrap()).unwrap().expect("the new token");
    assert!(found.tenants.is_empty() && !found.read_only);
}
