//! Validated names: modules, tenants and feature flags (SPEC §1), hosts, and the API
//! tokens of `modreg serve`. A value of these types is always valid, so code past the
//! edges never checks a name again.

use std::fmt;

use crate::domain::error::Error;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} name `{value}`: {reason}")]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
    pub reason: String,
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        let hint = match e.what {
            "tenant" => "a tenant id is 1 to 63 characters of a-z, 0-9, `_` and `-`, starting with a letter or digit",
            "module" => "a module name is 1 to 63 characters of a-z, 0-9 and `_`, starting with a letter",
            "host" => "a host name is 1 to 63 characters of letters, digits, `.`, `_` and `-`, starting with a letter or digit",
            "token" => "a token name is 1 to 63 characters of a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit",
            _ => "a flag name is 1 to 63 characters of a-z, 0-9 and `_`, starting with a letter",
        };
        Error::invalid(e.to_string()).with_hint(hint)
    }
}

fn check(what: &'static str, value: &str, first_ok: fn(u8) -> bool, rest_ok: fn(u8) -> bool) -> Result<(), NameError> {
    let refuse = |reason: String| NameError { what, value: value.to_string(), reason };
    let bytes = value.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(refuse("it is empty".into()));
    };
    if bytes.len() > 63 {
        return Err(refuse(format!("it is {} characters long, at most 63 are allowed", value.chars().count())));
    }
    if !first_ok(first) {
        let c = value.chars().next().unwrap_or_default();
        return Err(refuse(format!("it may not start with `{c}`")));
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii() || !rest_ok(*c as u8)) {
        return Err(refuse(format!("`{c}` is not allowed")));
    }
    Ok(())
}

fn lower_or_digit(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn lower(b: u8) -> bool {
    b.is_ascii_lowercase()
}

fn module_rest(b: u8) -> bool {
    lower_or_digit(b) || b == b'_'
}

fn tenant_rest(b: u8) -> bool {
    module_rest(b) || b == b'-'
}

fn token_rest(b: u8) -> bool {
    tenant_rest(b) || b == b'.'
}

fn host_first(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn host_rest(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal, $first:expr, $rest:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(value: &str) -> Result<Self, NameError> {
                check($what, value, $first, $rest)?;
                Ok($ty(value.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A module name: `^[a-z][a-z0-9_]{0,62}$`.
    ModuleName, "module", lower, module_rest
);
name_type!(
    /// A tenant id: `^[a-z0-9][a-z0-9_-]{0,62}$`.
    TenantName, "tenant", lower_or_digit, tenant_rest
);
name_type!(
    /// A host's name (`--host`): `^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`, as hostnames are.
    HostName, "host", host_first, host_rest
);
name_type!(
    /// An API token's name (`modreg token create NAME`): `^[a-z0-9][a-z0-9_.-]{0,62}$`.
    TokenName, "token", lower_or_digit, token_rest
);
name_type!(
    /// A feature flag name, shaped like a module name.
    FlagName, "flag", lower, module_rest
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenant_names_follow_the_spec() {
        for ok in ["acme", "a", "0day", "acme-eu_2", &"a".repeat(63)] {
            assert!(TenantName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "../x", "a/b", "-acme", "_acme", "acme.db", "émile", &"a".repeat(64), &"a".repeat(80)] {
            assert!(TenantName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn module_names_follow_the_spec() {
        for ok in ["finance", "digital_card", "m2"] {
            assert!(ModuleName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2fa", "_x", "Finance", "digital-card", "a b", &"m".repeat(64)] {
            assert!(ModuleName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_names_are_hostnames() {
        for ok in ["web-1", "db.eu-west.internal", "A1", "h_2"] {
            assert!(HostName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-web", ".h", "a b", "h/1", "h'1", &"h".repeat(64)] {
            assert!(HostName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_names_are_tenant_names_that_may_hold_dots() {
        for ok in ["ci", "0deploy", "deploy.eu-west_2", &"t".repeat(63)] {
            assert!(TokenName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".ci", "-ci", "_ci", "CI", "ci bot", "ci/bot", "ci:1", "modreg_ö", &"t".repeat(64)] {
            assert!(TokenName::parse(bad).is_err(), "{bad}");
        }
        let e = Error::from(TokenName::parse("ci bot").unwrap_err());
        assert_eq!(e.message, "invalid token name `ci bot`: ` ` is not allowed");
        assert!(e.hint.is_some_and(|h| h.starts_with("a token name is")));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = TenantName::parse("a/b").unwrap_err();
        assert_eq!(e.to_string(), "invalid tenant name `a/b`: `/` is not allowed");
        let e = TenantName::parse(&"x".repeat(80)).unwrap_err();
        assert!(e.to_string().contains("80 characters"), "{e}");
    }

    proptest! {
        #[test]
        fn tenant_parse_agrees_with_the_pattern(s in "\\PC{0,70}") {
            let bytes = s.as_bytes();
            let expected = !bytes.is_empty()
                && bytes.len() <= 63
                && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
                && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
            prop_assert_eq!(TenantName::parse(&s).is_ok(), expected);
        }

        #[test]
        fn valid_module_names_round_trip(s in "[a-z][a-z0-9_]{0,62}") {
            let name = ModuleName::parse(&s).unwrap();
            prop_assert_eq!(name.as_str(), s.as_str());
        }

        #[test]
        fn module_names_never_contain_path_characters(s in "\\PC{1,70}") {
            if let Ok(name) = ModuleName::parse(&s) {
                prop_assert!(!name.as_str().contains(['/', '.', '\\', ' ']));
            }
        }
    }
}
