-- Forum threads and posts, with a trigger that bumps a thread's last_post_at.
CREATE TABLE forum_threads (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    title             TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    author_member_id  INTEGER REFERENCES members (id) ON DELETE SET NULL,
    pinned            INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    locked            INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_post_at      TEXT
);

CREATE INDEX forum_threads_listing_idx ON forum_threads (pinned DESC, last_post_at DESC);

CREATE TABLE forum_posts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id         INTEGER NOT NULL REFERENCES forum_threads (id) ON DELETE CASCADE,
    author_member_id  INTEGER REFERENCES members (id) ON DELETE SET NULL,
    body              TEXT    NOT NULL CHECK (length(body) > 0),
    hidden            INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    edited_at         TEXT
);

CREATE INDEX forum_posts_thread_idx ON forum_posts (thread_id, created_at);
CREATE INDEX forum_posts_author_idx ON forum_posts (author_member_id);

CREATE TRIGGER forum_posts_no_reply_when_locked
BEFORE INSERT ON forum_posts
FOR EACH ROW
WHEN (SELECT locked FROM forum_threads WHERE id = NEW.thread_id) = 1
BEGIN
    SELECT RAISE(ABORT, 'thread is locked');
END;

CREATE TRIGGER forum_posts_bump_thread
AFTER INSERT ON forum_posts
FOR EACH ROW
BEGIN
    UPDATE forum_threads SET last_post_at = NEW.created_at WHERE id = NEW.thread_id;
END;
