-- Elections with their voting window, and the members standing as candidates.
CREATE TABLE elections (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    title        TEXT    NOT NULL,
    description  TEXT,
    seats        INTEGER NOT NULL DEFAULT 1 CHECK (seats >= 1),
    status       TEXT    NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'open', 'closed', 'cancelled')),
    opens_at     TEXT    NOT NULL,
    closes_at    TEXT    NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (closes_at > opens_at)
);

CREATE INDEX elections_status_idx ON elections (status, opens_at);

CREATE TABLE candidates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id  INTEGER NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    member_id    INTEGER NOT NULL REFERENCES members (id) ON DELETE RESTRICT,
    statement    TEXT,
    withdrawn    INTEGER NOT NULL DEFAULT 0 CHECK (withdrawn IN (0, 1)),
    UNIQUE (election_id, member_id),
    UNIQUE (id, election_id)
);
