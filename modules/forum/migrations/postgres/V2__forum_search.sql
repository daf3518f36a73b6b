-- Full-text index of visible posts (thread title + post body) as a tsvector table, kept in sync by triggers.
CREATE TABLE forum_search (
    post_id    bigint  PRIMARY KEY REFERENCES forum_posts (id) ON DELETE CASCADE,
    thread_id  bigint  NOT NULL,
    title      text,
    body       text,
    document   tsvector GENERATED ALWAYS AS
               (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(body, ''))) STORED
);

CREATE INDEX forum_search_document_idx ON forum_search USING gin (document);
CREATE INDEX forum_search_thread_idx ON forum_search (thread_id);

CREATE FUNCTION forum_posts_search_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO forum_search (post_id, title, body, thread_id)
    SELECT NEW.id, t.title, NEW.body, NEW.thread_id
      FROM forum_threads AS t
     WHERE t.id = NEW.thread_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER forum_posts_search_insert
AFTER INSERT ON forum_posts
FOR EACH ROW
WHEN (NOT NEW.hidden)
EXECUTE FUNCTION forum_posts_search_insert();

CREATE FUNCTION forum_posts_search_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM forum_search WHERE post_id = OLD.id;
    INSERT INTO forum_search (post_id, title, body, thread_id)
    SELECT NEW.id, t.title, NEW.body, NEW.thread_id
      FROM forum_threads AS t
     WHERE t.id = NEW.thread_id
       AND NOT NEW.hidden;
    RETURN NULL;
END
$$;

CREATE TRIGGER forum_posts_search_update
AFTER UPDATE OF body, hidden, thread_id ON forum_posts
FOR EACH ROW
EXECUTE FUNCTION forum_posts_search_update();

CREATE FUNCTION forum_posts_search_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM forum_search WHERE post_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER forum_posts_search_delete
AFTER DELETE ON forum_posts
FOR EACH ROW
EXECUTE FUNCTION forum_posts_search_delete();

CREATE FUNCTION forum_threads_search_retitle() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE forum_search SET title = NEW.title WHERE thread_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER forum_threads_search_retitle
AFTER UPDATE OF title ON forum_threads
FOR EACH ROW
EXECUTE FUNCTION forum_threads_search_retitle();
