//! Log events to stderr, as logfmt lines or JSON.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

use crate::cli::{LogFormat, LogLevel};
use crate::text::printable;

/// Installs the global subscriber. The exporter's own events follow `level`; its libraries
/// speak only at warn and above, so `debug` shows polls, not HTTP internals.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = EnvFilter::new(format!("warn,es_remote_exporter={}", level.as_str()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Logfmt => builder
            .fmt_fields(Logfmt)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Writes an event's fields as logfmt: the message first, as it is, then `key=value` pairs,
/// with a value quoted and escaped when it holds a space, a quote, `=` or any character that
/// is not printable. Names of clusters, nodes and remotes come from the network, and none of
/// them may forge a log line or drive the terminal.
pub struct Logfmt;

pub struct LogfmtVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl<'a> MakeVisitor<Writer<'a>> for Logfmt {
    type Visitor = LogfmtVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        LogfmtVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

impl LogfmtVisitor<'_> {
    fn field(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = match field.name() {
            "message" => write!(self.writer, "{separator}{}", Escaped(value)),
            name => write!(self.writer, "{separator}{name}={}", Value(value)),
        };
    }
}

impl Visit for LogfmtVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, &format!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for LogfmtVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for LogfmtVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// A logfmt value: bare when it is a plain word, else in quotes with escapes.
struct Value<'a>(&'a str);

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let bare = !text.is_empty()
            && text
                .chars()
                .all(|c| !c.is_whitespace() && !matches!(c, '"' | '=' | '\\') && printable(c));
        if bare {
            return f.write_str(text);
        }
        f.write_char('"')?;
        for c in text.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c => write_escaped(f, c)?,
            }
        }
        f.write_char('"')
    }
}

/// Text with every character that is not printable written as an escape.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.chars().try_for_each(|c| write_escaped(f, c))
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    match c {
        '\n' => f.write_str("\\n"),
        '\r' => f.write_str("\\r"),
        '\t' => f.write_str("\\t"),
        ' ' => f.write_char(' '),
        c if printable(c) => f.write_char(c),
        c => write!(f, "\\u{{{:x}}}", c as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_bare_and_others_are_quoted_and_escaped() {
        assert_eq!(Value("prod-b").to_string(), "prod-b");
        assert_eq!(Value("10.0.0.1:9200").to_string(), "10.0.0.1:9200");
        assert_eq!(Value("").to_string(), r#""""#);
        assert_eq!(
            Value("HTTP 403 Forbidden").to_string(),
            r#""HTTP 403 Forbidden""#
        );
        assert_eq!(Value(r#"a="b"\c"#).to_string(), r#""a=\"b\"\\c""#);
        assert_eq!(
            Value("evil\n2026-01-01T00:00:00Z  INFO forged").to_string(),
            r#""evil\n2026-01-01T00:00:00Z  INFO forged""#
        );
        assert_eq!(Value("no\u{1b}[2Jde").to_string(), r#""no\u{1b}[2Jde""#);
        assert_eq!(Value("a\u{202e}b").to_string(), r#""a\u{202e}b""#);
        assert_eq!(Value("zürich").to_string(), "zürich");
    }

    #[test]
    fn a_message_keeps_its_spaces_and_loses_its_control_characters() {
        assert_eq!(
            Escaped("cluster poll failing\n\u{7}").to_string(),
            "cluster poll failing\\n\\u{7}"
        );
    }
}
