-- The landlord catalog: platform-wide state. Tenant data lives in the tenant files.

-- Every name+version ever seen, with its content, so that published versions stay
-- immutable and installed versions can be uninstalled after their folder is gone.
CREATE TABLE catalog (
    module        TEXT NOT NULL,
    version       TEXT NOT NULL,
    checksum      TEXT NOT NULL,
    manifest      TEXT NOT NULL,
    migrations    TEXT NOT NULL,  -- JSON [{"name", "version", "sql"}]
    seeds         TEXT NOT NULL,  -- JSON [{"name", "sql"}]
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (module, version)
) WITHOUT ROWID;

CREATE TABLE tenants (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
) WITHOUT ROWID;

-- What each tenant has: the mirror of each tenant file's own records.
CREATE TABLE tenant_modules (
    tenant       TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    module       TEXT NOT NULL,
    version      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'installed',
    enabled      INTEGER NOT NULL DEFAULT 1,
    installed_at TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (tenant, module)
) WITHOUT ROWID;
CREATE INDEX tenant_modules_by_module ON tenant_modules (module, version);

-- Every version a tenant's module has had.
CREATE TABLE version_history (
    id           INTEGER PRIMARY KEY,
    tenant       TEXT NOT NULL,
    module       TEXT NOT NULL,
    from_version TEXT,
    to_version   TEXT,
    job_id       INTEGER,
    at           TEXT NOT NULL
);

-- Jobs and events are never deleted, so plain rowids only ever grow: no AUTOINCREMENT,
-- which would cost a write to sqlite_sequence on every insert. Every index here is one
-- more page written per job, so only the ones queries need: a tenant's jobs, and the
-- unfinished ones that recovery looks for.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    batch        TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    module       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    from_version TEXT,
    to_version   TEXT,
    actor        TEXT NOT NULL,
    pid          INTEGER,
    started_at   TEXT,
    finished_at  TEXT,
    error        TEXT,
    effect       TEXT NOT NULL   -- JSON: what completing the job changes here
);
CREATE INDEX jobs_by_tenant ON jobs (tenant, id);
CREATE INDEX jobs_unfinished ON jobs (tenant) WHERE status IN ('pending', 'running', 'failed');

CREATE TABLE job_steps (
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    detail      TEXT,
    output      TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE subscriptions (
    tenant     TEXT NOT NULL,
    module     TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    until      TEXT,            -- last day included, YYYY-MM-DD
    revoked_at TEXT,
    PRIMARY KEY (tenant, module)
) WITHOUT ROWID;

CREATE TABLE flags (
    tenant     TEXT NOT NULL,
    module     TEXT NOT NULL,
    flag       TEXT NOT NULL,
    value      INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, module, flag)
) WITHOUT ROWID;

CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    type    TEXT NOT NULL,
    tenant  TEXT,
    module  TEXT,
    version TEXT,
    job_id  INTEGER,
    data    TEXT
);

-- How far each event consumer (MODREG_EVENT_COMMAND) has got.
CREATE TABLE event_cursors (
    name       TEXT PRIMARY KEY,
    last_id    INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Files modreg keeps: uninstall archives, pre-upgrade copies, removed tenants.
CREATE TABLE archives (
    id         INTEGER PRIMARY KEY,
    tenant     TEXT NOT NULL,
    module     TEXT,
    version    TEXT,
    kind       TEXT NOT NULL,   -- uninstall | upgrade_copy | tenant
    path       TEXT NOT NULL,
    job_id     INTEGER,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX archives_by_tenant ON archives (tenant, module, kind);
