-- Messages within a conversation, newest-first lookups by conversation.
CREATE TABLE messages (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id   INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_member_id  INTEGER REFERENCES members (id) ON DELETE SET NULL,
    body              TEXT    NOT NULL CHECK (length(body) > 0),
    sent_at           TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    edited_at         TEXT
);

CREATE INDEX messages_conversation_sent_idx ON messages (conversation_id, sent_at DESC);
