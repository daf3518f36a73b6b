-- API tokens for `modreg serve`, each kept by the SHA-256 of its secret (hex), never the
-- secret. A name is unique among the tokens not revoked, so a revoked name can be given
-- to a new token; revoked tokens stay, as the record of who could do what.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    sha256     TEXT    NOT NULL UNIQUE,  -- every request looks its token up by this
    tenants    TEXT    NOT NULL,         -- JSON array of tenant names; [] is every tenant
    read_only  INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    revoked_at TEXT
);
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;
