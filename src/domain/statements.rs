//! A PostgreSQL script split into its statements, by its lexical structure alone: so
//! that each runs on its own and a failure names the line its statement starts on. A
//! `;` ends a statement unless it is inside a string (`'…'`, `E'…'`), a quoted name
//! (`"…"`), a dollar-quoted body (`$tag$…$tag$`), a comment (`--`, nested `/* */`) or
//! the body of a `BEGIN ATOMIC … END` function.

/// The statements of `script`, each with the byte offset it starts at, without the `;`
/// that ends it; empty ones (whitespace and comments alone) are left out.
pub fn statements<'a>(script: &'a str) -> Vec<(usize, &'a str)> {
    let bytes = script.as_bytes();
    let mut found = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // Inside `BEGIN ATOMIC`: how many `CASE`/`BEGIN` words are open within it.
    let mut atomic: Option<usize> = None;
    let mut previous_word = String::new();
    let push = |from: usize, to: usize, found: &mut Vec<(usize, &'a str)>| {
        let text = &script[from..to];
        if has_code(text) {
            let lead = text.len() - text.trim_start().len();
            found.push((from + lead, text.trim()));
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                let escapes = i > 0 && matches!(bytes[i - 1], b'e' | b'E') && (i < 2 || !is_word(bytes[i - 2]));
                i = end_of_string(bytes, i + 1, b'\'', escapes);
            }
            b'"' => i = end_of_string(bytes, i + 1, b'"', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = end_of_comment(bytes, i + 2),
            b'$' if i == 0 || !is_word(bytes[i - 1]) => match dollar_tag(bytes, i) {
                Some(tag) => {
                    let body = i + tag.len();
                    i = find(bytes, body, tag).map_or(bytes.len(), |end| end + tag.len());
                }
                None => i += 1,
            },
            b';' if atomic.is_none() => {
                push(start, i, &mut found);
                i += 1;
                start = i;
                previous_word.clear();
            }
            b if is_word(b) => {
                let from = i;
                while i < bytes.len() && is_word(bytes[i]) {
                    i += 1;
                }
                let word = script[from..i].to_ascii_lowercase();
                atomic = match (atomic, word.as_str()) {
                    (None, "atomic") if previous_word == "begin" => Some(0),
                    (Some(depth), "case" | "begin") => Some(depth + 1),
                    (Some(0), "end") => None,
                    (Some(depth), "end") => Some(depth - 1),
                    (state, _) => state,
                };
                previous_word = word;
            }
            _ => i += 1,
        }
    }
    push(start, bytes.len(), &mut found);
    found
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Whether text holds more than whitespace and comments.
fn has_code(text: &str) -> bool {
    code_start(text) < text.len()
}

/// The byte offset of the first code in `text`, past whitespace and comments (its
/// length when there is none): where a statement's own words begin.
pub fn code_start(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b if b.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = end_of_comment(bytes, i + 2),
            _ => return i,
        }
    }
    bytes.len()
}

/// Past the quote that closes a string or name opened before `i` (a doubled quote is
/// one inside it; with `escapes`, so is a backslashed one).
fn end_of_string(bytes: &[u8], mut i: usize, quote: u8, escapes: bool) -> usize {
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Past the end of a block comment opened before `i`; they nest.
fn end_of_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 1;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The dollar-quote tag (`$$`, `$body$`) that starts at `i`, if one does.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<&[u8]> {
    let mut j = i + 1;
    while j < bytes.len() && bytes[j] != b'$' {
        if !(bytes[j].is_ascii_alphabetic() || bytes[j] == b'_' || bytes[j] >= 0x80 || (j > i + 1 && bytes[j].is_ascii_digit())) {
            return None;
        }
        j += 1;
    }
    (j < bytes.len()).then(|| &bytes[i..=j])
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::statements;

    fn texts(script: &str) -> Vec<&str> {
        statements(script).into_iter().map(|(_, s)| s).collect()
    }

    #[test]
    fn semicolons_end_statements_outside_quotes_and_comments() {
        let script =
            "CREATE TABLE a (x text DEFAULT 'a;b');\n-- c; d\nINSERT INTO \"we;ird\" VALUES (E'it\\'s;'); /* x; /* y; */ z; */ SELECT 1";
        assert_eq!(
            texts(script),
            [
                "CREATE TABLE a (x text DEFAULT 'a;b')",
                "-- c; d\nINSERT INTO \"we;ird\" VALUES (E'it\\'s;')",
                "/* x; /* y; */ z; */ SELECT 1"
            ]
        );
    }

    #[test]
    fn dollar_quoted_and_atomic_bodies_are_one_statement() {
        let script = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql;
CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2; END;
SELECT $1, a$b FROM t";
        let found = texts(script);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].ends_with("LANGUAGE plpgsql"));
        assert!(found[1].ends_with("SELECT 2; END"));
        assert_eq!(found[2], "SELECT $1, a$b FROM t");
    }

    #[test]
    fn offsets_point_at_each_statements_start_and_empty_ones_are_left_out() {
        let script = "  SELECT 1;\n\n  SELECT 2; ; -- only a comment\n";
        assert_eq!(statements(script), [(2, "SELECT 1"), (15, "SELECT 2")]);
        assert!(statements("").is_empty());
        assert_eq!(texts("SELECT 'unterminated; still"), ["SELECT 'unterminated; still"]);
    }
}
