-- Newsletter opt-ins, one row per member.
CREATE TABLE newsletter_subscriptions (
    member_id        bigint      PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    subscribed_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_at     timestamptz,
    unsubscribed_at  timestamptz,
    CHECK (unsubscribed_at IS NULL OR unsubscribed_at >= subscribed_at)
);
