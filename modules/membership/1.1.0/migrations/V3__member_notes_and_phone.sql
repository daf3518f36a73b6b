-- Adds members.phone (with a partial index) and the member_notes table for staff notes.
ALTER TABLE members ADD COLUMN phone TEXT;

CREATE INDEX members_phone_idx ON members (phone) WHERE phone IS NOT NULL;

CREATE TABLE member_notes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    author      TEXT    NOT NULL,
    body        TEXT    NOT NULL CHECK (length(body) > 0),
    pinned      INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX member_notes_member_idx ON member_notes (member_id, created_at);
