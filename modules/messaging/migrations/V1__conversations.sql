-- Conversations and their participants (a WITHOUT ROWID join table).
CREATE TABLE conversations (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    subject               TEXT,
    created_by_member_id  INTEGER REFERENCES members (id) ON DELETE SET NULL,
    created_at            TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    archived              INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1))
);

CREATE TABLE conversation_participants (
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    member_id        INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    joined_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_read_at     TEXT,
    PRIMARY KEY (conversation_id, member_id)
) WITHOUT ROWID;

CREATE INDEX conversation_participants_member_idx ON conversation_participants (member_id);
