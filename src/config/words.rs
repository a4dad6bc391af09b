//! Splitting a directive's argument string into words, with the quoting rules
//! of httpd's `ap_getword_conf`: words are separated by whitespace; a word that
//! starts with `"` or `'` runs to the matching quote, and inside it a backslash
//! escapes that quote character. Quotes in the middle of a word are literal.

/// The words of `line`, unquoted.
pub(crate) fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let (word, after) = next_word(rest);
        words.push(word);
        rest = after.trim_start();
    }
    words
}

fn next_word(s: &str) -> (String, &str) {
    let mut chars = s.char_indices();
    let Some((_, first)) = chars.next() else {
        return (String::new(), s);
    };
    if first == '"' || first == '\'' {
        let mut word = String::new();
        let mut escaped = false;
        for (i, c) in chars {
            if escaped {
                // ap_getword_conf keeps the backslash unless it escapes the quote.
                if c != first {
                    word.push('\\');
                }
                word.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == first {
                return (word, &s[i + c.len_utf8()..]);
            } else {
                word.push(c);
            }
        }
        if escaped {
            word.push('\\');
        }
        return (word, "");
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    // mod_wsgi's option syntax: `name="quoted value"` is one word.
    if let Some(eq) = s[..end].find('=') {
        let value = &s[eq + 1..];
        if value.starts_with('"') || value.starts_with('\'') {
            let (v, after) = next_word(value);
            return (format!("{}{v}", &s[..=eq]), after);
        }
    }
    (s[..end].to_string(), &s[end..])
}

/// Splits `name=value` options; `None` when the word has no `=`.
pub(super) fn split_option(word: &str) -> Option<(&str, &str)> {
    word.split_once('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words() {
        assert_eq!(split_words("  /a   /b c "), vec!["/a", "/b", "c"]);
        assert!(split_words("   ").is_empty());
    }

    #[test]
    fn quoted_words() {
        assert_eq!(
            split_words(r#""/my app" '/x y/z.wsgi' process-group=a"#),
            vec!["/my app", "/x y/z.wsgi", "process-group=a"]
        );
        assert_eq!(split_words(r#""a \" b""#), vec![r#"a " b"#]);
        assert_eq!(split_words(r#""a\b""#), vec![r"a\b"]);
        assert_eq!(split_words(r#""unterminated"#), vec!["unterminated"]);
    }

    #[test]
    fn quotes_inside_a_word_are_literal() {
        assert_eq!(split_words(r#"a"b c"#), vec![r#"a"b"#, "c"]);
    }

    #[test]
    fn quoted_option_values() {
        assert_eq!(
            split_words(r#"app home="/x y" python-path='/a b:/c' n=1"#),
            vec!["app", "home=/x y", "python-path=/a b:/c", "n=1"]
        );
    }

    #[test]
    fn options() {
        assert_eq!(split_option("a=b=c"), Some(("a", "b=c")));
        assert_eq!(split_option("abc"), None);
    }
}
