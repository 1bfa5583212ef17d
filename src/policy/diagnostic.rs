//! What is wrong with a policy set, and where: every problem names a file, a line and a
//! column, so `consentgate policy check` can print `FILE:LINE:COLUMN: message`.

use std::fmt;
use std::path::PathBuf;

/// One problem in one file of a policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    /// The file's name inside the policy folder, such as `release_table.cedar`.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong, lowercase, without a final period.
    pub message: String,
}

impl PolicyDiagnostic {
    /// A problem at a byte offset of `text`, the content of `file`; at the start of the
    /// file when the offset is unknown.
    pub(super) fn at(file: &str, text: &str, offset: Option<usize>, message: String) -> Self {
        let (line, column) = offset.map_or((1, 1), |offset| position(text, offset));
        Self {
            file: file.to_string(),
            line,
            column,
            message,
        }
    }

    /// A problem with a whole file (or a missing one): reported at its start.
    pub(super) fn file(file: &str, message: String) -> Self {
        Self {
            file: file.to_string(),
            line: 1,
            column: 1,
            message,
        }
    }

    /// A problem about the first occurrence of `needle` in `text` that is not in a
    /// `//` or `#` comment line; at the start of the file when there is none.
    pub(super) fn near(file: &str, text: &str, needle: &str, message: String) -> Self {
        Self::at(file, text, find_outside_comments(text, needle), message)
    }
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Why a policy set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The folder or one of its files could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The set was read but is not acceptable; every problem found, in file order.
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<PolicyDiagnostic>),
}

fn invalid_message(diagnostics: &[PolicyDiagnostic]) -> String {
    match diagnostics {
        [] => "invalid policy set".to_string(),
        [only] => format!("invalid policy set: {only}"),
        [first, rest @ ..] => format!(
            "invalid policy set: {first} (and {} more problem{})",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

/// The 1-based line and character column of a byte offset; an offset past the end or
/// inside a character counts as the nearest character boundary before it.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let before = text.get(..end).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

fn find_outside_comments(text: &str, needle: &str) -> Option<usize> {
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if !(trimmed.starts_with("//") || trimmed.starts_with('#'))
            && let Some(found) = line.find(needle)
        {
            return Some(line_start + found);
        }
        line_start += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_counts_lines_and_characters_from_one() {
        let text = "ab\ncé d\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 3), (2, 1));
        // `d` is byte 7 but character 4 of its line.
        assert_eq!(position(text, 7), (2, 4));
        assert_eq!(position(text, 5), (2, 2), "inside `é` counts as its start");
        assert_eq!(position(text, 100), (3, 1));
    }

    #[test]
    fn a_needle_in_a_comment_line_is_skipped() {
        let text = "// Field::\"x\"\npermit when { Field::\"x\" };\n";
        let diagnostic = PolicyDiagnostic::near("a.cedar", text, "Field::\"x\"", String::new());
        assert_eq!((diagnostic.line, diagnostic.column), (2, 15));
    }

    #[test]
    fn an_invalid_set_message_names_the_first_problem_and_counts_the_rest() {
        let error = PolicyError::Invalid(vec![
            PolicyDiagnostic::file("a.cedar", "one".to_string()),
            PolicyDiagnostic::file("b.cedar", "two".to_string()),
        ]);
        assert_eq!(
            error.to_string(),
            "invalid policy set: a.cedar:1:1: one (and 1 more problem)"
        );
    }
}
