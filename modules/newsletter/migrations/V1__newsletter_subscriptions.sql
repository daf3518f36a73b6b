-- Newsletter opt-ins, one row per member.
CREATE TABLE newsletter_subscriptions (
    member_id        INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    subscribed_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    confirmed_at     TEXT,
    unsubscribed_at  TEXT,
    CHECK (unsubscribed_at IS NULL OR unsubscribed_at >= subscribed_at)
);
