//! Field-level validation errors as they travel in the `errors` array of an RFC 9457
//! problem details body (CONTRACT §4), and the JSON Pointers that locate them.

use std::fmt;

use serde::Serialize;

/// One bad member of a request body: where it is, and what is wrong with it.
///
/// This is exactly one `errors[]` entry of a `422 invalid_field` problem, so the HTTP layer
/// serializes it as it is and never has to translate parser internals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// RFC 6901 JSON Pointer to the bad member, from the root of the request body
    /// (`""` is the whole body).
    pub pointer: String,
    /// What is wrong, for the engineer on the other side: lowercase, no final period, user
    /// input in backticks and shortened by [`echo`], never a Rust type name.
    pub detail: String,
}

impl FieldError {
    /// Builds an error for the member at `at`.
    pub fn new(at: &JsonPointer, detail: impl Into<String>) -> Self {
        Self {
            pointer: at.as_str().to_owned(),
            detail: detail.into(),
        }
    }
}

/// An RFC 6901 JSON Pointer, built one reference token at a time.
///
/// Member names come from the client and may hold `/` or `~`; building pointers only through
/// [`JsonPointer::member`] means every name is escaped, so a pointer always designates the
/// member it was built for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonPointer(String);

impl JsonPointer {
    /// The pointer to the whole document (the empty string).
    pub fn root() -> Self {
        Self(String::new())
    }

    /// The pointer to member `name` of the object this pointer designates.
    pub fn member(&self, name: &str) -> Self {
        let mut pointer = String::with_capacity(self.0.len() + 1 + name.len());
        pointer.push_str(&self.0);
        pointer.push('/');
        for c in name.chars() {
            // INVARIANT: `~` is escaped before `/` is, so `~1` in a name becomes `~01`
            // and never reads back as `/` (RFC 6901 §4).
            match c {
                '~' => pointer.push_str("~0"),
                '/' => pointer.push_str("~1"),
                other => pointer.push(other),
            }
        }
        Self(pointer)
    }

    /// The pointer to element `index` of the array this pointer designates.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}/{index}", self.0))
    }

    /// The pointer in its string form, as it goes into [`FieldError::pointer`].
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many characters of client input a detail message repeats.
pub const MAX_ECHO_CHARS: usize = 40;

/// Shortens client input before a detail message repeats it.
///
/// A body may be 4 MiB; an error answer must not send a 4 MiB string back, nor control
/// characters that would garble a log line or a terminal, so those are shown escaped.
pub fn echo(input: &str) -> String {
    let mut shown = String::new();
    let mut chars = input.chars();
    for c in chars.by_ref().take(MAX_ECHO_CHARS) {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if chars.next().is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_pointer_is_the_empty_string() {
        assert_eq!(JsonPointer::root().as_str(), "");
    }

    #[test]
    fn members_and_indexes_are_joined_with_slashes() {
        let pointer = JsonPointer::root()
            .member("transactions")
            .index(3)
            .member("txn_id");
        assert_eq!(pointer.as_str(), "/transactions/3/txn_id");
    }

    #[test]
    fn a_slash_in_a_member_name_is_escaped_as_tilde_one() {
        let pointer = JsonPointer::root().member("a/b");
        assert_eq!(pointer.as_str(), "/a~1b");
    }

    #[test]
    fn a_tilde_in_a_member_name_is_escaped_as_tilde_zero() {
        let pointer = JsonPointer::root().member("a~b");
        assert_eq!(pointer.as_str(), "/a~0b");
    }

    #[test]
    fn a_literal_tilde_one_in_a_member_name_does_not_turn_into_a_slash() {
        let pointer = JsonPointer::root().member("~1");
        assert_eq!(pointer.as_str(), "/~01");
    }

    #[test]
    fn an_empty_member_name_is_an_empty_reference_token() {
        let pointer = JsonPointer::root().member("").member("x");
        assert_eq!(pointer.as_str(), "//x");
    }

    #[test]
    fn a_field_error_serializes_as_pointer_and_detail() {
        let error = FieldError::new(
            &JsonPointer::root().member("transactions").index(0),
            "is required",
        );
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"pointer": "/transactions/0", "detail": "is required"})
        );
    }

    #[test]
    fn short_input_is_echoed_unchanged() {
        assert_eq!(echo("EURO"), "EURO");
    }

    #[test]
    fn input_of_exactly_the_limit_is_echoed_without_an_ellipsis() {
        let input = "a".repeat(MAX_ECHO_CHARS);
        assert_eq!(echo(&input), input);
    }

    #[test]
    fn long_input_is_cut_to_the_limit_and_marked_with_an_ellipsis() {
        let input = "é".repeat(4 * 1024 * 1024);
        let shown = echo(&input);
        assert_eq!(shown, format!("{}…", "é".repeat(MAX_ECHO_CHARS)));
    }

    #[test]
    fn control_characters_in_echoed_input_are_escaped() {
        assert_eq!(echo("a\nb\u{0}"), "a\\nb\\u{0}");
    }
}
