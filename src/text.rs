//! Text from configurations and answers, made safe to show in logs, `/health` and tables.

/// `text` with control characters turned into spaces and cut to `max` characters, marked with
/// `…` where it was cut.
pub fn one_line(text: &str, max: usize) -> String {
    let mut line = String::with_capacity(text.len().min(max + 3));
    for (count, c) in text.chars().enumerate() {
        if count == max {
            line.push('…');
            break;
        }
        line.push(if c.is_control() { ' ' } else { c });
    }
    line
}

/// Not a control character, nor one of the Unicode format characters that reorder or hide
/// text on a terminal: the soft hyphen, bidirectional marks, embeddings, overrides and
/// isolates, zero-width characters, line and paragraph separators, the byte order mark.
pub fn printable(c: char) -> bool {
    !c.is_control()
        && !matches!(c,
            '\u{00ad}'
            | '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_cuts_at_the_limit_and_blanks_control_characters() {
        assert_eq!(one_line("abc", 3), "abc");
        assert_eq!(one_line("abcd", 3), "abc…");
        assert_eq!(one_line("a\nb\u{1b}c", 10), "a b c");
        assert_eq!(one_line("zürich", 3), "zür…");
    }

    #[test]
    fn format_characters_that_rewrite_a_line_are_not_printable() {
        for c in [
            '\u{1b}', '\n', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}', '\u{2028}',
        ] {
            assert!(!printable(c), "{c:?}");
        }
        for c in ['a', 'ü', '-', ' ', '日'] {
            assert!(printable(c), "{c:?}");
        }
    }
}
