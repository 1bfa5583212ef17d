//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Every audit record is hashed as the UTF-8 bytes of its canonical JSON, so
//! that anyone holding an export can recompute each leaf hash with any JCS
//! implementation. Canonical means: object members sorted by the UTF-16 code
//! units of their names, no whitespace, strings escaped exactly as ECMAScript's
//! `JSON.stringify` does, and numbers in ECMAScript's shortest form.
//!
//! Audit records only carry integers, so instead of the full ECMAScript
//! `Number::toString` algorithm for fractions and exponents this accepts only
//! numbers with an integral value that a double represents exactly and
//! unambiguously: the I-JSON safe integers, `-(2^53 - 1) ..= 2^53 - 1`. Every
//! other number is refused rather than written in a form that might not be
//! canonical.

use serde_json::{Map, Value};
use thiserror::Error;

/// The largest integer every JSON implementation reads back exactly
/// (`Number.MAX_SAFE_INTEGER`, I-JSON RFC 7493 section 2.2).
pub(super) const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How deeply arrays and objects may nest; deeper values are refused instead of
/// exhausting the stack. Records nest two or three levels; `serde_json` itself
/// refuses to parse beyond 128.
const MAX_DEPTH: usize = 128;

/// Why a value has no canonical form here.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum JcsError {
    /// A number that is not a safe integer (a fraction, or too large).
    #[error("number `{0}` is not an integer between -(2^53 - 1) and 2^53 - 1")]
    UnsupportedNumber(String),
    /// Arrays and objects nested too deeply.
    #[error("value nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The canonical JSON text of `value`.
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out, 0)?;
    Ok(out)
}

/// Appends the canonical JSON of `value` to `out` (a record's `detail`, written by the
/// record's own serialiser). On error `out` may hold part of the value.
pub fn write_canonical(value: &Value, out: &mut String) -> Result<(), JcsError> {
    write_value(value, out, 0)
}

/// Appends `s` as a canonical JSON string literal.
pub fn write_canonical_string(s: &str, out: &mut String) {
    write_string(s, out);
}

/// Appends the canonical JSON of `value` to `out`, the leaf input of a record.
///
/// On error `out` is left as it was.
pub fn canonicalize_into(value: &Value, out: &mut Vec<u8>) -> Result<(), JcsError> {
    let text = canonicalize(value)?;
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn write_value(value: &Value, out: &mut String, depth: usize) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(number, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            let depth = deeper(depth)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out, depth)?;
            }
            out.push(']');
        }
        Value::Object(members) => write_object(members, out, deeper(depth)?)?,
    }
    Ok(())
}

fn write_object(
    members: &Map<String, Value>,
    out: &mut String,
    depth: usize,
) -> Result<(), JcsError> {
    // CAUTION: sorting by `str` order (UTF-8 bytes, i.e. code points) differs
    // from UTF-16 code unit order for characters above U+FFFF against
    // U+E000..U+FFFF; RFC 8785 section 3.2.3 asks for UTF-16.
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(name, out);
        out.push(':');
        write_value(value, out, depth)?;
    }
    out.push('}');
    Ok(())
}

/// Writes a number as ECMAScript would, for the safe integers this supports.
fn write_number(number: &serde_json::Number, out: &mut String) -> Result<(), JcsError> {
    let unsupported = || JcsError::UnsupportedNumber(number.to_string());
    if let Some(n) = number.as_u64() {
        if n > MAX_SAFE_INTEGER {
            return Err(unsupported());
        }
        out.push_str(&n.to_string());
    } else if let Some(n) = number.as_i64() {
        if n.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(unsupported());
        }
        out.push_str(&n.to_string());
    } else {
        // A double: canonical only when it holds a safe integer (`56.0` is
        // written `56`, and `-0.0` is written `0` as ECMAScript does).
        let f = number.as_f64().ok_or_else(unsupported)?;
        if !f.is_finite() || f.fract() != 0.0 || f.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(unsupported());
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "f is integral and within ±(2^53 - 1), so it fits exactly"
        )]
        let n = f as i64;
        out.push_str(&n.to_string());
    }
    Ok(())
}

/// Writes a string literal as ECMAScript `JSON.stringify` does: only `"`, `\`
/// and the controls below U+0020 are escaped, everything else is written as
/// is (UTF-8), including U+007F and non-ASCII.
fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Copy runs that need no escaping in one go: most strings have none at all.
    let mut rest = s;
    // Byte search: `"`, `\\` and the controls never occur inside a multi-byte UTF-8
    // sequence, so a byte position is always a character boundary.
    while let Some(at) = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)
    {
        let Some((plain, tail)) = rest.split_at_checked(at) else {
            break;
        };
        out.push_str(plain);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            escape(c, out);
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out.push('"');
}

/// The ECMAScript `JSON.stringify` escape of `"`, `\\` or a control character.
fn escape(c: char, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{08}' => out.push_str("\\b"),
        '\u{0c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let code = u32::from(c);
            out.push_str("\\u00");
            for shift in [4, 0] {
                let digit = HEX
                    .get(((code >> shift) & 0xf) as usize)
                    .copied()
                    .unwrap_or(b'0');
                out.push(char::from(digit));
            }
        }
    }
}

fn deeper(depth: usize) -> Result<usize, JcsError> {
    if depth >= MAX_DEPTH {
        return Err(JcsError::TooDeep);
    }
    Ok(depth + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        canonicalize(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn members_are_sorted_by_utf16_code_units_as_in_rfc_8785() {
        // RFC 8785 section 3.2.3.
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                    \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                    \"\u{1f600}\":\"Emoji: Grinning Face\",\
                    \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(input), want);
    }

    #[test]
    fn the_cyberphone_weird_vector_canonicalizes_as_published() {
        // cyberphone/json-canonicalization testdata/{input,output}/weird.json.
        let input = r#"{
          "\u20ac": "Euro Sign",
          "1": "One",
          "\u0080": "Control\u007f",
          "\ud83d\ude02": "Smiley",
          "\u00f6": "Latin Small Letter O With Diaeresis",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "</script>": "Browser Challenge"
        }"#;
        let want = "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\
                    \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                    \"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(input), want);
    }

    #[test]
    fn the_cyberphone_structures_and_french_vectors_canonicalize_as_published() {
        let input = r#"{
          "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0},
          "10": { },
          "": "empty",
          "a": { },
          "111": [ { } ],
          "A": { }
        }"#;
        assert_eq!(
            canon(input),
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}"#
        );
        let input = r#"{
          "peach": "This sorting order",
          "péché": "is wrong according to French",
          "pêche": "but canonicalization MUST",
          "sin":   "ingnore locale"
        }"#;
        assert_eq!(
            canon(input),
            r#"{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ingnore locale"}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_ecmascript_does() {
        // The string of the RFC 8785 section 3.2.2 example.
        let input = r#"{"escaping": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "other": [null, true, false]}"#;
        assert_eq!(
            canon(input),
            "{\"escaping\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\",\"other\":[null,true,false]}"
        );
    }

    #[test]
    fn every_control_character_is_escaped() {
        let short = [
            (0x08, "\\b"),
            (0x09, "\\t"),
            (0x0a, "\\n"),
            (0x0c, "\\f"),
            (0x0d, "\\r"),
        ];
        for code in 0u32..0x20 {
            let c = char::from_u32(code).unwrap();
            let want = match short.iter().find(|(k, _)| *k == code) {
                Some((_, s)) => format!("\"{s}\""),
                None => format!("\"\\u{code:04x}\""),
            };
            assert_eq!(canonicalize(&Value::String(c.to_string())).unwrap(), want);
        }
        assert_eq!(
            canonicalize(&json!("\u{7f}\u{1f}")).unwrap(),
            "\"\u{7f}\\u001f\""
        );
        assert_eq!(canonicalize(&json!("a\"b\\c/d")).unwrap(), r#""a\"b\\c/d""#);
    }

    #[test]
    fn nested_objects_and_arrays_are_sorted_at_every_level_and_keep_array_order() {
        let value = json!({
            "z": [3, {"b": 1, "a": [{"d": null, "c": true}]}, 1],
            "a": {"y": {}, "x": []},
        });
        assert_eq!(
            canonicalize(&value).unwrap(),
            r#"{"a":{"x":[],"y":{}},"z":[3,{"a":[{"c":true,"d":null}],"b":1},1]}"#
        );
    }

    #[test]
    fn an_audit_record_canonicalizes_to_one_compact_line() {
        let record = json!({
            "index": 0, "ts": "2026-11-24T10:00:00.123456Z", "kind": "release",
            "actor": "bank:bank-a", "user_id": "u-42", "recipient": "messenger",
            "purpose": "fraud_alert", "bank": "bank-a",
            "released": ["transaction.amount_minor"],
            "withheld": [{"field": "transaction.card_last4", "reason": "no_consent"}],
            "detail": {}
        });
        assert_eq!(
            canonicalize(&record).unwrap(),
            concat!(
                r#"{"actor":"bank:bank-a","bank":"bank-a","detail":{},"index":0,"kind":"release","#,
                r#""purpose":"fraud_alert","recipient":"messenger","released":["transaction.amount_minor"],"#,
                r#""ts":"2026-11-24T10:00:00.123456Z","user_id":"u-42","#,
                r#""withheld":[{"field":"transaction.card_last4","reason":"no_consent"}]}"#
            )
        );
    }

    #[test]
    fn safe_integers_are_written_as_integers() {
        for (input, want) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("1.0", "1"),
            ("1e3", "1000"),
            ("-42", "-42"),
            ("9007199254740991", "9007199254740991"),
            ("-9007199254740991", "-9007199254740991"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
        // Built directly: serde_json's default float parser may round the
        // last digit of so long a literal.
        let max = json!(9_007_199_254_740_991.0f64);
        assert_eq!(canonicalize(&max).unwrap(), "9007199254740991");
        assert_eq!(canonicalize(&json!(-0.0f64)).unwrap(), "0");
    }

    #[test]
    fn fractions_and_integers_beyond_2_pow_53_are_refused() {
        for input in [
            "0.5",
            "1e-7",
            "1e30",
            "9007199254740992",
            "-9007199254740992",
            "18446744073709551615",
            "9007199254740993.0",
            "333333333.33333329",
        ] {
            let value: Value = serde_json::from_str(input).unwrap();
            assert!(
                matches!(canonicalize(&value), Err(JcsError::UnsupportedNumber(_))),
                "{input}"
            );
            let mut out = b"kept".to_vec();
            assert!(canonicalize_into(&json!({"n": value}), &mut out).is_err());
            assert_eq!(out, b"kept");
        }
    }

    #[test]
    fn overly_deep_nesting_is_refused() {
        let mut value = json!(1);
        for _ in 0..MAX_DEPTH {
            value = json!([value]);
        }
        assert!(canonicalize(&value).is_ok());
        assert_eq!(canonicalize(&json!([value])), Err(JcsError::TooDeep));
    }

    #[test]
    fn canonicalize_into_appends_the_same_bytes() {
        let value = json!({"b": "\u{e9}", "a": [1, 2]});
        let mut out = b"prefix:".to_vec();
        canonicalize_into(&value, &mut out).unwrap();
        assert_eq!(out, "prefix:{\"a\":[1,2],\"b\":\"\u{e9}\"}".as_bytes());
    }

    #[test]
    fn parsing_the_canonical_form_gives_back_the_value() {
        let values = [
            json!(null),
            json!({"\u{10000}": 1, "\u{ffff}": 2, "\u{e000}": 3, "": [], "\u{0}": "\u{1}\u{1f}\"\\"}),
            json!({"ts": "2026-11-24T10:00:00Z", "n": -9007199254740991i64, "deep": {"a": [true, false, {"x": "y\r\n"}]}}),
            json!([
                "\u{2028}\u{2029}",
                "😀",
                "tab\there",
                0,
                9007199254740991u64
            ]),
        ];
        for value in values {
            let text = canonicalize(&value).unwrap();
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                value,
                "{text}"
            );
            // Canonicalization is idempotent.
            assert_eq!(canon(&text), text);
        }
    }

    #[test]
    fn supplementary_characters_sort_before_the_upper_bmp() {
        // U+10000 is D800 DC00 in UTF-16, below U+E000 and U+FFFF, though above
        // both as a code point.
        let value = json!({"\u{ffff}": 1, "\u{10000}": 2, "\u{e000}": 3});
        assert_eq!(
            canonicalize(&value).unwrap(),
            "{\"\u{10000}\":2,\"\u{e000}\":3,\"\u{ffff}\":1}"
        );
    }
}
