-- FTS5 index of visible posts (thread title + post body), kept in sync by triggers.
CREATE VIRTUAL TABLE forum_search USING fts5(
    title,
    body,
    thread_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER forum_posts_search_insert
AFTER INSERT ON forum_posts
FOR EACH ROW
WHEN NEW.hidden = 0
BEGIN
    INSERT INTO forum_search (rowid, title, body, thread_id)
    SELECT NEW.id, t.title, NEW.body, NEW.thread_id
      FROM forum_threads AS t
     WHERE t.id = NEW.thread_id;
END;

CREATE TRIGGER forum_posts_search_update
AFTER UPDATE OF body, hidden, thread_id ON forum_posts
FOR EACH ROW
BEGIN
    DELETE FROM forum_search WHERE rowid = OLD.id;
    INSERT INTO forum_search (rowid, title, body, thread_id)
    SELECT NEW.id, t.title, NEW.body, NEW.thread_id
      FROM forum_threads AS t
     WHERE t.id = NEW.thread_id
       AND NEW.hidden = 0;
END;

CREATE TRIGGER forum_posts_search_delete
AFTER DELETE ON forum_posts
FOR EACH ROW
BEGIN
    DELETE FROM forum_search WHERE rowid = OLD.id;
END;

CREATE TRIGGER forum_threads_search_retitle
AFTER UPDATE OF title ON forum_threads
FOR EACH ROW
BEGIN
    UPDATE forum_search SET title = NEW.title WHERE thread_id = NEW.id;
END;
