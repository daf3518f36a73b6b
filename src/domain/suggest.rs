//! "Did you mean": the known name closest to one that is not known, as cargo suggests a
//! command for a typo. Pure: callers pass the names they know and word the hint.

/// How many single-character edits turn `a` into `b`: insertions, deletions,
/// substitutions and swaps of two neighbours (the optimal string alignment distance),
/// counted in characters, not bytes.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the edit table: the one before the previous (for swaps), the
    // previous, and the one being filled.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// How far a candidate may be from `name` and still be what was meant: a third of its
/// length, and at least one edit.
fn limit(name: &str) -> usize {
    (name.chars().count() / 3).max(1)
}

/// The candidate closest to `name`, when it is close enough to be a likely typo (at most
/// [`limit`] edits away, and not `name` itself); of equally close ones, the first in
/// alphabetical order, so that the answer does not depend on the order given.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = limit(name);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// The hint for an unknown `name` when a `what` (`module`, `tenant`, `flag`) with a
/// similar name exists: ``a module with a similar name exists: `finance` ``.
pub fn similar<'a>(what: &str, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|found| format!("a {what} with a similar name exists: `{found}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn distances_count_each_kind_of_edit_once() {
        assert_eq!(distance("finance", "finance"), 0);
        assert_eq!(distance("finanse", "finance"), 1);
        assert_eq!(distance("finace", "finance"), 1);
        assert_eq!(distance("fiannce", "finance"), 1, "a swap of neighbours is one edit");
        assert_eq!(distance("", "acme"), 4);
        assert_eq!(distance("acme", ""), 4);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ca", "abc"), 3, "optimal string alignment does not edit a swapped pair again");
        assert_eq!(distance("é", "e"), 1, "characters, not bytes");
    }

    #[test]
    fn the_closest_likely_typo_is_suggested() {
        let catalog = ["membership", "finance", "forum", "elections", "digital_card"];
        assert_eq!(closest("finanse", catalog), Some("finance"));
        assert_eq!(closest("membershp", catalog), Some("membership"));
        assert_eq!(closest("forun", catalog), Some("forum"));
        assert_eq!(closest("fx", catalog), None, "too far from anything");
        assert_eq!(closest("ledger", catalog), None);
        assert_eq!(closest("finance", catalog), None, "a name is not a suggestion for itself");
        assert_eq!(closest("a", ["b", "ab"]), Some("ab"), "one edit is always allowed; ties go alphabetically");
        assert_eq!(closest("acme", ["acne", "acmes"]), Some("acmes"), "equally close: alphabetical, whatever the order given");
        assert_eq!(closest("acme", ["acmes", "acne"]), Some("acmes"));
        assert_eq!(closest("anything", std::iter::empty()), None);
        assert_eq!(similar("module", "finanse", catalog).as_deref(), Some("a module with a similar name exists: `finance`"));
    }

    /// Names as modreg has them, with a few characters beyond ASCII.
    fn name() -> impl Strategy<Value = String> {
        "[a-eé_]{0,10}"
    }

    /// One edit of `name` at `at`: 0 insert, 1 delete, 2 substitute, 3 swap neighbours.
    fn edited(name: &str, kind: u8, at: usize, with: char) -> String {
        let mut chars: Vec<char> = name.chars().collect();
        let at = if chars.is_empty() { 0 } else { at % chars.len() };
        match kind {
            0 => chars.insert(at, with),
            1 if !chars.is_empty() => {
                chars.remove(at);
            }
            2 if !chars.is_empty() => chars[at] = with,
            3 if at + 1 < chars.len() => chars.swap(at, at + 1),
            _ => {}
        }
        chars.into_iter().collect()
    }

    proptest! {
        #[test]
        fn distance_is_a_symmetric_count_of_edits(a in name(), b in name()) {
            let d = distance(&a, &b);
            prop_assert_eq!(d, distance(&b, &a));
            prop_assert_eq!(d == 0, a == b);
            let (la, lb) = (a.chars().count(), b.chars().count());
            prop_assert!(d >= la.abs_diff(lb));
            prop_assert!(d <= la.max(lb));
        }

        #[test]
        fn one_edit_is_at_most_one_away(a in name(), kind in 0u8..4, at in 0usize..12, with in "[a-eé]") {
            let b = edited(&a, kind, at, with.chars().next().unwrap_or('a'));
            prop_assert!(distance(&a, &b) <= 1, "{} -> {}", a, b);
        }

        #[test]
        fn the_suggestion_is_a_candidate_within_the_limit_and_none_is_closer(
            wanted in name(),
            candidates in proptest::collection::vec(name(), 0..8),
        ) {
            let found = closest(&wanted, candidates.iter().map(String::as_str));
            let others = candidates.iter().filter(|c| **c != wanted);
            match found {
                Some(found) => {
                    prop_assert!(candidates.iter().any(|c| c == found) && found != wanted);
                    let d = distance(&wanted, found);
                    prop_assert!(d <= limit(&wanted));
                    for other in others {
                        prop_assert!(distance(&wanted, other) >= d);
                    }
                }
                None => {
                    for other in others {
                        prop_assert!(distance(&wanted, other) > limit(&wanted));
                    }
                }
            }
        }
    }
}
