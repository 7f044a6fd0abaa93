//! Entity patterns: `*` matches any run of characters (also none), `?` exactly one, anything
//! else itself. Enough for `sw1-*` or `alb/web>*:443`; no classes or escapes, so a pattern
//! never fails to compile and an admin cannot write an unreadable one.

/// Whether `text` matches `pattern`, in O(pattern × text) at worst. Run once per (rule,
/// series) when the series starts, not per point.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and the text position it currently stands for, to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((star_pi, star_ti)) => {
                    pi = star_pi + 1;
                    ti = star_ti + 1;
                    star = Some((star_pi, star_ti + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("sw1-*", "sw1-port3"));
        assert!(matches("sw1-*", "sw1-"));
        assert!(!matches("sw1-*", "sw2-port3"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("*", ""));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*/eth*", "sw1/eth0"));
        assert!(matches("a*b*c", "aXXbYYbZc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("alb/web>*:443", "alb/web>10.0.0.1:443"));
    }
}
