-- API tokens for `modreg serve`, each kept by the SHA-256 of its secret (hex), never the
-- secret. A name is unique among the tokens not revoked, so a revoked name can be given
-- to a new token; revoked tokens stay, as the record of who could do what.
CREATE TABLE tokens (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    sha256     text        NOT NULL UNIQUE,  -- every request looks its token up by this
    tenants    jsonb       NOT NULL,         -- array of tenant names; [] is every tenant
    read_only  boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;
