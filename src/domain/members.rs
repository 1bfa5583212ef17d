//! Reading the members of one JSON object while collecting every error, so that a record
//! parser reports all bad members at once instead of stopping at the first.

use serde_json::{Map, Value};

use super::batch::MAX_REPORTED_ERRORS;
use super::field_error::{FieldError, JsonPointer};

/// The members of one JSON object being parsed into a record.
///
/// Every member a parser asks for is remembered, so [`Members::finish`] can report every
/// member the record does not define: a bank must not push fields that nobody agreed to
/// carry (CONTRACT §5).
pub(crate) struct Members<'a> {
    object: &'a Map<String, Value>,
    at: &'a JsonPointer,
    record: &'static str,
    known: Vec<&'static str>,
    errors: Vec<FieldError>,
}

impl<'a> Members<'a> {
    /// Starts reading `value` at `at` as a `record` (for example `"a transaction"`), or
    /// reports that it is not an object at all.
    pub(crate) fn of(
        value: &'a Value,
        at: &'a JsonPointer,
        record: &'static str,
    ) -> Result<Self, FieldError> {
        match value {
            Value::Object(object) => Ok(Self {
                object,
                at,
                record,
                known: Vec::new(),
                errors: Vec::new(),
            }),
            other => Err(FieldError::new(
                at,
                format!("must be an object, not {}", kind_of(other)),
            )),
        }
    }

    /// Parses required member `name`; `None` means an error was recorded.
    ///
    /// JSON `null` counts as absent, as it does for optional members, so `null` is
    /// "is required" rather than a type error.
    pub(crate) fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.optional(name, parse) {
            Some(Some(parsed)) => Some(parsed),
            Some(None) => {
                self.errors
                    .push(FieldError::new(&self.at.member(name), "is required"));
                None
            }
            None => None,
        }
    }

    /// Parses optional member `name`: `Some(None)` when it is absent or `null`, `None` when
    /// an error was recorded.
    pub(crate) fn optional<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<Option<T>> {
        self.known.push(name);
        match self.object.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => match parse(value) {
                Ok(parsed) => Some(Some(parsed)),
                Err(detail) => {
                    self.errors
                        .push(FieldError::new(&self.at.member(name), detail));
                    None
                }
            },
        }
    }

    /// Ends the reading and returns every error found, including one per member that was
    /// never asked for.
    ///
    /// INVARIANT: every `None` returned by [`Members::required`] or [`Members::optional`]
    /// recorded an error, so an empty list means every member parsed.
    ///
    /// Unknown members are reported up to one more than [`MAX_REPORTED_ERRORS`], enough for
    /// the batch to know the list was cut, so one object of 500,000 tiny members never turns
    /// into 500,000 errors.
    pub(crate) fn finish(mut self) -> Vec<FieldError> {
        let unknown = self
            .object
            .keys()
            .filter(|name| !self.known.contains(&name.as_str()))
            .take(MAX_REPORTED_ERRORS + 1);
        for name in unknown {
            self.errors.push(FieldError::new(
                &self.at.member(name),
                format!("is not a member of {}", self.record),
            ));
        }
        self.errors
    }
}

/// Reads a JSON string, the shape of every textual member.
pub(crate) fn string(value: &Value) -> Result<&str, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("must be a string, not {}", kind_of(other))),
    }
}

/// Names the kind of a JSON value for a detail message, without repeating the value.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at() -> JsonPointer {
        JsonPointer::root().member("items").index(2)
    }

    #[test]
    fn a_value_that_is_not_an_object_is_reported_at_the_item_with_its_kind() {
        let value = json!([1, 2]);
        let pointer = at();
        let error = Members::of(&value, &pointer, "a thing").err().unwrap();
        assert_eq!(error.pointer, "/items/2");
        assert_eq!(error.detail, "must be an object, not an array");
    }

    #[test]
    fn a_missing_required_member_is_reported_as_required() {
        let value = json!({});
        let pointer = at();
        let mut members = Members::of(&value, &pointer, "a thing").unwrap();
        assert_eq!(
            members.required("name", |v| string(v).map(str::to_owned)),
            None
        );
        let errors = members.finish();
        assert_eq!(
            errors,
            vec![FieldError {
                pointer: "/items/2/name".into(),
                detail: "is required".into()
            }]
        );
    }

    #[test]
    fn a_null_required_member_is_reported_as_required() {
        let value = json!({"name": null});
        let pointer = at();
        let mut members = Members::of(&value, &pointer, "a thing").unwrap();
        assert_eq!(
            members.required("name", |v| string(v).map(str::to_owned)),
            None
        );
        let errors = members.finish();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].detail, "is required");
    }

    #[test]
    fn an_absent_and_a_null_optional_member_both_read_as_absent() {
        let value = json!({"b": null});
        let pointer = at();
        let mut members = Members::of(&value, &pointer, "a thing").unwrap();
        assert_eq!(
            members.optional("a", |v| string(v).map(str::to_owned)),
            Some(None)
        );
        assert_eq!(
            members.optional("b", |v| string(v).map(str::to_owned)),
            Some(None)
        );
        assert!(members.finish().is_empty());
    }

    #[test]
    fn a_member_of_the_wrong_type_is_reported_with_the_parser_detail() {
        let value = json!({"name": 7});
        let pointer = at();
        let mut members = Members::of(&value, &pointer, "a thing").unwrap();
        assert_eq!(
            members.optional("name", |v| string(v).map(str::to_owned)),
            None
        );
        let errors = members.finish();
        assert_eq!(errors[0].pointer, "/items/2/name");
        assert_eq!(errors[0].detail, "must be a string, not a number");
    }

    #[test]
    fn every_member_never_asked_for_is_reported_with_an_escaped_pointer() {
        let value = json!({"name": "x", "pan": "4242424242424242", "a/b": 1});
        let pointer = at();
        let mut members = Members::of(&value, &pointer, "a thing").unwrap();
        assert!(
            members
                .required("name", |v| string(v).map(str::to_owned))
                .is_some()
        );
        let mut errors = members.finish();
        errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        assert_eq!(
            errors,
            vec![
                FieldError {
                    pointer: "/items/2/a~1b".into(),
                    detail: "is not a member of a thing".into()
                },
                FieldError {
                    pointer: "/items/2/pan".into(),
                    detail: "is not a member of a thing".into()
                },
            ]
        );
    }

    #[test]
    fn unknown_members_are_reported_only_up_to_one_past_the_cap() {
        let object: Map<String, Value> = (0..5000).map(|i| (format!("x{i}"), json!(0))).collect();
        let value = Value::Object(object);
        let pointer = at();
        let members = Members::of(&value, &pointer, "a thing").unwrap();
        assert_eq!(members.finish().len(), MAX_REPORTED_ERRORS + 1);
    }

    #[test]
    fn every_json_kind_has_a_name_with_its_article() {
        assert_eq!(kind_of(&json!(null)), "null");
        assert_eq!(kind_of(&json!(true)), "a boolean");
        assert_eq!(kind_of(&json!(1)), "a number");
        assert_eq!(kind_of(&json!("x")), "a string");
        assert_eq!(kind_of(&json!([])), "an array");
        assert_eq!(kind_of(&json!({})), "an object");
    }
}
