-- The landlord on PostgreSQL: the same records as the SQLite landlord, in PostgreSQL's
-- own types, shared by every host. Tenant data stays in each host's SQLite files.

-- Every name+version ever seen, with its content: published versions stay immutable,
-- and installed versions can be uninstalled after their folder is gone.
CREATE TABLE catalog (
    module        text        NOT NULL,
    version       text        NOT NULL,
    checksum      text        NOT NULL,
    manifest      text        NOT NULL,
    migrations    jsonb       NOT NULL,  -- [{"name", "version", "sql"}]
    seeds         jsonb       NOT NULL,  -- [{"name", "sql"}]
    first_seen_at timestamptz NOT NULL,
    PRIMARY KEY (module, version)
);

CREATE TABLE tenants (
    name       text        PRIMARY KEY,
    created_at timestamptz NOT NULL
);

-- What each tenant has: the mirror of each tenant file's own records.
CREATE TABLE tenant_modules (
    tenant       text        NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    module       text        NOT NULL,
    version      text        NOT NULL,
    state        text        NOT NULL DEFAULT 'installed',
    enabled      boolean     NOT NULL DEFAULT true,
    installed_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant, module)
);
CREATE INDEX tenant_modules_by_module ON tenant_modules (module, version);

-- Every version a tenant's module has had.
CREATE TABLE version_history (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant       text        NOT NULL,
    module       text        NOT NULL,
    from_version text,
    to_version   text,
    job_id       bigint,
    at           timestamptz NOT NULL
);
CREATE INDEX version_history_by_tenant ON version_history (tenant, module, id);

CREATE TABLE jobs (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch        text        NOT NULL,
    tenant       text        NOT NULL,
    module       text        NOT NULL,
    kind         text        NOT NULL,
    status       text        NOT NULL,
    from_version text,
    to_version   text,
    actor        text        NOT NULL,
    pid          integer,
    started_at   timestamptz,
    finished_at  timestamptz,
    error        text,
    effect       jsonb       NOT NULL  -- what completing the job changes here
);
CREATE INDEX jobs_by_tenant ON jobs (tenant, id);
CREATE INDEX jobs_unfinished ON jobs (tenant) WHERE status IN ('pending', 'running', 'failed');

CREATE TABLE job_steps (
    job_id      bigint  NOT NULL REFERENCES jobs (id),
    seq         integer NOT NULL,
    name        text    NOT NULL,
    status      text    NOT NULL,
    duration_ms bigint  NOT NULL DEFAULT 0,
    detail      text,
    output      text,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE subscriptions (
    tenant     text        NOT NULL,
    module     text        NOT NULL,
    granted_at timestamptz NOT NULL,
    until      date,               -- last day included
    revoked_at timestamptz,
    PRIMARY KEY (tenant, module)
);

CREATE TABLE flags (
    tenant     text        NOT NULL,
    module     text        NOT NULL,
    flag       text        NOT NULL,
    value      boolean     NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, module, flag)
);

-- Events are written last in their transaction, under an advisory lock held to the
-- commit, so that ids become visible in their order and a reader following
-- `id > cursor` never skips one.
CREATE TABLE events (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    type    text        NOT NULL,
    tenant  text,
    module  text,
    version text,
    job_id  bigint,
    data    jsonb
);

-- How far each event consumer (MODREG_EVENT_COMMAND) has got.
CREATE TABLE event_cursors (
    name       text        PRIMARY KEY,
    last_id    bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Files modreg keeps: uninstall archives, pre-upgrade copies, removed tenants.
CREATE TABLE archives (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant     text        NOT NULL,
    module     text,
    version    text,
    kind       text        NOT NULL,   -- uninstall | upgrade_copy | tenant
    path       text        NOT NULL,
    job_id     bigint,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX archives_by_tenant ON archives (tenant, module, kind);
