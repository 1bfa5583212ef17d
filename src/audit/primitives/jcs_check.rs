//! Checking that bytes are exactly a canonical JCS text (RFC 8785), without building a value.
//!
//! Offline verification must confirm that every exported line is its record's canonical
//! form. Parsing each line into a `serde_json::Value` and writing it again with
//! [`super::jcs::canonicalize`] answers that, but costs several microseconds a record
//! (allocations, and ordered maps since cedar-policy-core enables serde_json's
//! `preserve_order`). This module answers the same question in one pass over the bytes.
//!
//! A text passes when it is what [`super::jcs::canonicalize`] writes for the value
//! `serde_json` reads from it, which means:
//!
//! - no whitespace anywhere, and nothing after the value;
//! - object members strictly increasing by the UTF-16 code units of their names (so no
//!   duplicate names);
//! - strings with exactly the ECMAScript escapes: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//!   the other controls below U+0020 as `\u00xx` in lowercase hex, and every other
//!   character as its UTF-8 bytes (including `/`, U+007F and non-ASCII); well-formed UTF-8;
//! - numbers as the writer supports them: integers between `-(2^53 - 1)` and `2^53 - 1`
//!   without leading zeros, never `-0`, never a fraction or an exponent (the writer refuses
//!   every other number, so no text holding one is canonical here);
//! - `true`, `false`, `null`;
//! - arrays and objects nested at most [`MAX_DEPTH`] deep.
//!
//! The randomised tests below hold this to `canonicalize(parse(text)) == text`.

use std::cmp::Ordering;

use thiserror::Error;

use super::jcs::MAX_SAFE_INTEGER;

/// The deepest nesting that passes: `serde_json` refuses to parse a 128th level, and the
/// writer a 129th, so a text nested 128 deep is never canonical here.
pub const MAX_DEPTH: usize = 127;

/// The digits of [`MAX_SAFE_INTEGER`] (9007199254740991): longer integers are out of range.
const MAX_SAFE_DIGITS: usize = 16;

/// Why a text is not canonical: the byte offset where the check failed.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
#[error("not canonical JSON (RFC 8785) at byte {at}")]
pub struct NotCanonical {
    /// Offset of the first byte that could not be accepted (the text's length when it ended
    /// too early).
    pub at: usize,
}

/// Checks that `text` is exactly a canonical JCS text (see the module documentation).
///
/// On success, returns the value of the top-level `index` member when the text is an
/// object whose `index` is a non-negative integer (an audit record's leaf index), else
/// `None`. To check many texts, reuse a [`CanonicalChecker`].
pub fn check_canonical(text: &[u8]) -> Result<Option<u64>, NotCanonical> {
    CanonicalChecker::new().check(text)
}

/// Checks that `text` starts with a canonical JCS value, and returns where that value ends
/// and its top-level `index` as [`check_canonical`] does. What follows the value is not
/// looked at: a caller splitting lines checks that it is the line's end.
pub fn check_canonical_prefix(text: &[u8]) -> Result<(usize, Option<u64>), NotCanonical> {
    CanonicalChecker::new().check_prefix(text)
}

/// [`check_canonical`] and [`check_canonical_prefix`] for many texts: the checker keeps its
/// stack of open arrays and objects, so checking allocates nothing once it has seen the
/// deepest text.
#[derive(Debug, Default)]
pub struct CanonicalChecker {
    open: Vec<Open>,
}

/// An array or object being read.
#[derive(Debug, Clone, Copy)]
struct Open {
    object: bool,
    /// The last member name of an object, once there is one.
    last: Option<Name>,
}

/// A member name: where its content lies in the text, and whether a byte comparison orders
/// it correctly.
#[derive(Debug, Clone, Copy)]
struct Name {
    start: usize,
    end: usize,
    /// ASCII without escapes: byte order is UTF-16 order.
    plain: bool,
}

impl CanonicalChecker {
    /// A checker with nothing open.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`check_canonical`].
    pub fn check(&mut self, text: &[u8]) -> Result<Option<u64>, NotCanonical> {
        let (end, index) = self.check_prefix(text)?;
        if end != text.len() {
            return Err(NotCanonical { at: end });
        }
        Ok(index)
    }

    /// [`check_canonical_prefix`].
    pub fn check_prefix(&mut self, text: &[u8]) -> Result<(usize, Option<u64>), NotCanonical> {
        self.open.clear();
        let mut index = None;
        match self.walk(text, &mut index) {
            Ok(end) => Ok((end, index)),
            Err(at) => Err(NotCanonical { at }),
        }
    }

    /// Reads one value from the start of `text`, iteratively (one loop, the position kept
    /// in a register); returns where it ends, or the offset where it is not canonical.
    fn walk(&mut self, text: &[u8], index: &mut Option<u64>) -> Result<usize, usize> {
        let mut at = 0;
        'values: loop {
            // A value starts at `at`.
            'value: {
                match text.get(at) {
                    Some(b'"') => at = string(text, at)?.0,
                    Some(&open @ (b'{' | b'[')) => {
                        if self.open.len() == MAX_DEPTH {
                            return Err(at);
                        }
                        let object = open == b'{';
                        let close = if object { b'}' } else { b']' };
                        at += 1;
                        if text.get(at) == Some(&close) {
                            at += 1;
                            break 'value;
                        }
                        self.open.push(Open { object, last: None });
                        if object {
                            let top = self.open.len() == 1;
                            let Some(open) = self.open.last_mut() else {
                                return Err(at);
                            };
                            at = member(text, at, open)?;
                            if top && let Some(end) = index_member(text, at, open, index)? {
                                at = end;
                                break 'value;
                            }
                        }
                        continue 'values;
                    }
                    Some(b'-' | b'0'..=b'9') => at = number(text, at)?.1,
                    Some(b't') => at = literal(text, at, b"true")?,
                    Some(b'f') => at = literal(text, at, b"false")?,
                    Some(b'n') => at = literal(text, at, b"null")?,
                    _ => return Err(at),
                }
            }
            // A value ended at `at`: close what ends here, then go on with the next value.
            loop {
                let top = self.open.len() == 1;
                let Some(open) = self.open.last_mut() else {
                    return Ok(at);
                };
                match text.get(at) {
                    Some(b',') => {
                        at += 1;
                        if !open.object {
                            continue 'values;
                        }
                        at = member(text, at, open)?;
                        match index_member(text, at, open, index)? {
                            Some(end) if top => at = end,
                            _ => continue 'values,
                        }
                    }
                    Some(b']') if !open.object => {
                        at += 1;
                        self.open.pop();
                    }
                    Some(b'}') if open.object => {
                        at += 1;
                        self.open.pop();
                    }
                    _ => return Err(at),
                }
            }
        }
    }
}

/// Reads a member name at `at` and the colon after it, checking that the name orders after
/// the object's previous one; returns where the member's value starts.
#[inline]
fn member(text: &[u8], at: usize, open: &mut Open) -> Result<usize, usize> {
    let (after, plain) = string(text, at)?;
    let name = Name {
        start: at + 1,
        end: after - 1,
        plain,
    };
    if let Some(last) = open.last
        && order(text, last, name) != Ordering::Less
    {
        return Err(at);
    }
    open.last = Some(name);
    if text.get(after) != Some(&b':') {
        return Err(after);
    }
    Ok(after + 1)
}

/// When the member just named is `index` and its value at `at` a non-negative integer,
/// records it and returns where it ends. Only asked of the top-level object.
#[inline]
fn index_member(
    text: &[u8],
    at: usize,
    open: &Open,
    index: &mut Option<u64>,
) -> Result<Option<usize>, usize> {
    let is_index = open
        .last
        .is_some_and(|name| text.get(name.start..name.end) == Some(b"index"));
    if !is_index || !matches!(text.get(at), Some(b'0'..=b'9')) {
        return Ok(None);
    }
    let (value, end) = number(text, at)?;
    *index = Some(value);
    Ok(Some(end))
}

#[inline]
fn literal(text: &[u8], at: usize, word: &[u8]) -> Result<usize, usize> {
    if text.get(at..at + word.len()) == Some(word) {
        Ok(at + word.len())
    } else {
        Err(at)
    }
}

/// A canonical integer at `at`: `-?(0|[1-9][0-9]*)`, not `-0`, within ±(2^53 - 1). Returns
/// its magnitude and where it ends. What may follow (a fraction or an exponent would) is
/// left to the caller, which accepts only `,`, `]`, `}` or the end.
#[inline]
fn number(text: &[u8], at: usize) -> Result<(u64, usize), usize> {
    let mut at = at;
    let negative = text.get(at) == Some(&b'-');
    if negative {
        at += 1;
    }
    match text.get(at) {
        Some(b'0') if !negative => return Ok((0, at + 1)),
        Some(b'1'..=b'9') => {}
        _ => return Err(at),
    }
    let start = at;
    let mut value = 0u64;
    while let Some(&digit @ b'0'..=b'9') = text.get(at) {
        if at - start == MAX_SAFE_DIGITS {
            return Err(at);
        }
        value = value * 10 + u64::from(digit - b'0');
        at += 1;
    }
    if value > MAX_SAFE_INTEGER {
        return Err(start);
    }
    Ok((value, at))
}

/// A string at `at` as ECMAScript's `JSON.stringify` writes it. Returns where it ends (after
/// the closing quote) and whether its content is ASCII without escapes.
#[inline(always)]
fn string(text: &[u8], at: usize) -> Result<(usize, bool), usize> {
    if text.get(at) != Some(&b'"') {
        return Err(at);
    }
    let mut at = at + 1;
    let mut plain = true;
    loop {
        at = skip_plain_ascii(text, at);
        match text.get(at) {
            Some(b'"') => return Ok((at + 1, plain)),
            Some(b'\\') => {
                plain = false;
                at = escape(text, at)?;
            }
            Some(0x80..) => {
                plain = false;
                at = non_ascii(text, at)?;
            }
            // A control character (they must be escaped), or the end of the text.
            _ => return Err(at),
        }
    }
}

/// The position of the first byte from `at` on that is `"`, `\`, a control or non-ASCII (or
/// the end), looking at eight bytes at a time.
#[inline(always)]
fn skip_plain_ascii(text: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    while let Some(chunk) = text.get(at..at + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(bytes);
        // The classic "has a zero byte" test: `(x - 0x01..) & !x & 0x80..` flags the
        // lowest byte that is zero (bytes above it may be flagged falsely through the
        // borrow, which is why only the lowest flag is used). `word - 0x20..` does the
        // same for bytes below 0x20, and the high bit of `word` flags non-ASCII.
        let quote = word ^ QUOTES;
        let backslash = word ^ BACKSLASHES;
        let special = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | word.wrapping_sub(SPACES)
            | word;
        let special = special & HIGHS;
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&byte) = text.get(at) {
        if byte == b'"' || byte == b'\\' || !(0x20..0x80).contains(&byte) {
            break;
        }
        at += 1;
    }
    at
}

/// An escape at `at` (a backslash), exactly as `JSON.stringify` writes it; returns where it
/// ends.
fn escape(text: &[u8], at: usize) -> Result<usize, usize> {
    let Some(&[b'\\', kind]) = text.get(at..at + 2) else {
        return Err(at);
    };
    match kind {
        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(at + 2),
        b'u' => {
            // Only the controls without a short escape: `\u00xx`, lowercase hex.
            let Some(&[b'0', b'0', high, low]) = text.get(at + 2..at + 6) else {
                return Err(at);
            };
            let code = match (high, low) {
                (b'0', b'0'..=b'9') => low - b'0',
                (b'0', b'a'..=b'f') => low - b'a' + 10,
                (b'1', b'0'..=b'9') => 0x10 + low - b'0',
                (b'1', b'a'..=b'f') => 0x1a + low - b'a',
                _ => return Err(at),
            };
            if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                return Err(at);
            }
            Ok(at + 6)
        }
        _ => Err(at),
    }
}

/// One well-formed UTF-8 character (no surrogates, no overlong forms) at `at`; returns
/// where it ends.
fn non_ascii(text: &[u8], at: usize) -> Result<usize, usize> {
    let width = match text.get(at) {
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        _ => return Err(at),
    };
    let bytes = text.get(at..at + width).ok_or(at)?;
    std::str::from_utf8(bytes).map_err(|_| at)?;
    Ok(at + width)
}

/// How member name `a` orders against `b`, by UTF-16 code units as RFC 8785 section 3.2.3
/// asks.
#[inline]
fn order(text: &[u8], a: Name, b: Name) -> Ordering {
    let bytes = |name: Name| text.get(name.start..name.end).unwrap_or_default();
    if a.plain && b.plain {
        let (a, b) = (bytes(a), bytes(b));
        // Names mostly differ in their first byte: decide that without calling memcmp.
        return match (a.first(), b.first()) {
            (Some(x), Some(y)) if x != y => x.cmp(y),
            _ => a.cmp(b),
        };
    }
    // CAUTION: UTF-8 byte order is code point order, which differs from UTF-16 order for
    // characters above U+FFFF against U+E000..U+FFFF; and escapes must be compared as the
    // characters they stand for. Both names passed `string`, so they decode.
    let chars = |name: Name| {
        std::str::from_utf8(bytes(name))
            .map(|s| Unescaped(s.chars()).map(utf16_order))
            .map_err(|_| ())
    };
    match (chars(a), chars(b)) {
        (Ok(a), Ok(b)) => a.cmp(b),
        // INVARIANT: unreachable, the names were checked as UTF-8; refusing the text is the
        // safe answer.
        _ => Ordering::Equal,
    }
}

/// A key ordering characters as their UTF-16 encodings order: the BMP below the surrogates,
/// then the supplementary planes (high surrogates D800..DBFF first), then U+E000..U+FFFF.
/// Two different characters never share a first code unit unless both are supplementary,
/// so comparing characters this way compares their code unit sequences.
fn utf16_order(c: char) -> u32 {
    let code = u32::from(c);
    match code {
        0..0xd800 => code,
        0xe000..=0xffff => code + 0x10_0000,
        _ => code - 0x2800,
    }
}

/// The characters of the content of a canonical string, escapes decoded.
struct Unescaped<'s>(std::str::Chars<'s>);

impl Iterator for Unescaped<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.0.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match self.0.next()? {
            'b' => '\u{08}',
            'f' => '\u{0c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hex: String = self.0.by_ref().take(4).collect();
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)?
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::jcs::canonicalize;
    use super::*;
    use serde_json::{Value, json};

    /// The reference: what verification did before this module, parse and write again.
    fn reference(text: &[u8]) -> bool {
        serde_json::from_slice::<Value>(text)
            .ok()
            .and_then(|value| canonicalize(&value).ok())
            .is_some_and(|canonical| canonical.as_bytes() == text)
    }

    fn accepts(text: &[u8]) -> bool {
        check_canonical(text).is_ok()
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const TRICKY_CHARS: &[char] = &[
        'a',
        'b',
        'A',
        'z',
        '0',
        ' ',
        '"',
        '\\',
        '/',
        '\u{0}',
        '\u{1}',
        '\u{8}',
        '\t',
        '\n',
        '\u{b}',
        '\u{c}',
        '\r',
        '\u{e}',
        '\u{1f}',
        '\u{7f}',
        '\u{80}',
        '\u{e9}',
        '\u{7ff}',
        '\u{800}',
        '\u{20ac}',
        '\u{2028}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{fb33}',
        '\u{fffd}',
        '\u{ffff}',
        '\u{10000}',
        '\u{1f600}',
        '\u{10ffff}',
    ];

    fn string(rng: &mut Rng) -> String {
        let length = rng.below(6);
        (0..length).map(|_| *rng.pick(TRICKY_CHARS)).collect()
    }

    fn number(rng: &mut Rng) -> Value {
        let max = MAX_SAFE_INTEGER as i64;
        match rng.below(6) {
            0 => json!(rng.below(10)),
            1 => json!(-(rng.below(1000) as i64)),
            2 => json!(max - rng.below(3) as i64),
            3 => json!(-max + rng.below(3) as i64),
            4 => json!(
                (rng.next() % (MAX_SAFE_INTEGER + 1)) as i64
                    * if rng.below(2) == 0 { 1 } else { -1 }
            ),
            _ => json!(rng.below(1 << 20) as f64),
        }
    }

    fn value(rng: &mut Rng, depth: usize) -> Value {
        let choice = if depth > 4 {
            rng.below(5)
        } else {
            rng.below(8)
        };
        match choice {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => number(rng),
            3 | 4 => Value::String(string(rng)),
            5 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
            _ => {
                let mut map = serde_json::Map::new();
                for _ in 0..rng.below(6) {
                    map.insert(string(rng), value(rng, depth + 1));
                }
                Value::Object(map)
            }
        }
    }

    const INSERTS: &[&str] = &[
        " ",
        "\n",
        "\r",
        ",",
        ":",
        "\"",
        "\\",
        "\\u0041",
        "\\u001F",
        "\\u001f",
        "\\/",
        "\\u00e9",
        "\\ud83d",
        "\\ud83d\\ude00",
        "0",
        "01",
        "-0",
        "1.0",
        "1e21",
        "1E2",
        "1e-7",
        "0.1",
        "5e-324",
        "-",
        "{",
        "}",
        "[",
        "]",
        "true",
        "nul",
        "\u{0}",
        "\u{7f}",
        "\u{e9}",
        "9007199254740992",
        "\u{1f600}",
    ];

    /// Mutates canonical text the ways a careless writer or an attacker might.
    fn mutate(rng: &mut Rng, text: &str) -> Vec<u8> {
        let mut bytes = text.as_bytes().to_vec();
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 => {
                let insert = rng.pick(INSERTS).as_bytes();
                bytes.splice(at..at, insert.iter().copied());
            }
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => {
                bytes[at] = rng.next() as u8;
            }
            3 if at + 1 < bytes.len() => bytes.swap(at, at + 1),
            4 if at < bytes.len() => {
                let replace = rng.pick(INSERTS).as_bytes();
                let end = (at + 1 + rng.below(4)).min(bytes.len());
                bytes.splice(at..end, replace.iter().copied());
            }
            _ => bytes.extend_from_slice(rng.pick(INSERTS).as_bytes()),
        }
        bytes
    }

    #[test]
    fn every_canonical_text_of_random_values_passes() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let value = value(&mut rng, 0);
            let text = canonicalize(&value).unwrap();
            assert!(accepts(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn random_mutations_are_judged_as_parsing_and_writing_again_judges_them() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let mut rejected = 0;
        // One checker for every text, as verification uses it: nothing may carry over.
        let mut reused = CanonicalChecker::new();
        for _ in 0..200_000 {
            let text = canonicalize(&value(&mut rng, 0)).unwrap();
            let mut mutated = mutate(&mut rng, &text);
            if rng.below(4) == 0 {
                mutated = mutate(&mut rng, &String::from_utf8_lossy(&mutated));
            }
            let want = reference(&mutated);
            assert_eq!(reused.check(&mutated).is_ok(), want);
            assert_eq!(
                accepts(&mutated),
                want,
                "{:?} (from {text:?})",
                String::from_utf8_lossy(&mutated)
            );
            rejected += usize::from(!want);
        }
        // The mutations mostly break the text, but not always (a changed digit).
        assert!(rejected > 150_000, "{rejected}");
    }

    /// Writes `value` canonically except that object members come in a random order, and
    /// now and then one twice.
    fn write_shuffled(rng: &mut Rng, value: &Value, out: &mut String) {
        match value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_shuffled(rng, item, out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                let mut members: Vec<_> = members.iter().collect();
                for i in (1..members.len()).rev() {
                    members.swap(i, rng.below(i + 1));
                }
                if !members.is_empty() && rng.below(8) == 0 {
                    let twice = members[rng.below(members.len())];
                    members.insert(rng.below(members.len() + 1), twice);
                }
                out.push('{');
                for (i, (name, item)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&canonicalize(&Value::String(name.clone())).unwrap());
                    out.push(':');
                    write_shuffled(rng, item, out);
                }
                out.push('}');
            }
            scalar => out.push_str(&canonicalize(scalar).unwrap()),
        }
    }

    #[test]
    fn members_in_random_order_are_judged_as_the_reference_judges_them() {
        let mut rng = Rng(0x5851_f42d_4c95_7f2d);
        let mut accepted = 0;
        for _ in 0..50_000 {
            let mut text = String::new();
            let value = value(&mut rng, 0);
            write_shuffled(&mut rng, &value, &mut text);
            let want = reference(text.as_bytes());
            assert_eq!(accepts(text.as_bytes()), want, "{text:?}");
            accepted += usize::from(want);
        }
        assert!((10_000..45_000).contains(&accepted), "{accepted}");
    }

    #[test]
    fn every_pair_of_tricky_names_is_ordered_by_utf16_code_units() {
        let mut names: Vec<String> = vec![String::new()];
        names.extend(TRICKY_CHARS.iter().map(|c| c.to_string()));
        let mut rng = Rng(0xd1b5_4a32_d192_ed03);
        for _ in 0..200 {
            let name: String = (0..2).map(|_| *rng.pick(TRICKY_CHARS)).collect();
            names.push(name);
        }
        for a in &names {
            for b in &names {
                let text = format!(
                    "{{{}:1,{}:2}}",
                    canonicalize(&json!(a)).unwrap(),
                    canonicalize(&json!(b)).unwrap()
                );
                let want = a.encode_utf16().lt(b.encode_utf16());
                assert_eq!(reference(text.as_bytes()), want, "{text:?}");
                assert_eq!(accepts(text.as_bytes()), want, "{text:?}");
            }
        }
    }

    #[test]
    fn texts_of_the_tricky_kinds_are_judged_as_the_reference_judges_them() {
        let cases: &[&[u8]] = &[
            b"{}",
            b"[]",
            b"\"\"",
            b"0",
            b"-1",
            b"9007199254740991",
            b"-9007199254740991",
            b"9007199254740992",
            b"-9007199254740992",
            b"18446744073709551616",
            b"00",
            b"01",
            b"-0",
            b"-01",
            b"1.0",
            b"0.1",
            b"1e21",
            b"1e-7",
            b"5e-324",
            b"1E3",
            b"-",
            b"",
            b" 1",
            b"1 ",
            b"true",
            b"tru",
            b"truex",
            b"null",
            b"nulL",
            b"false",
            b"{\"a\":1}",
            b"{\"a\" :1}",
            b"{\"a\":1,}",
            b"{\"a\":1,\"a\":1}",
            b"{\"b\":1,\"a\":2}",
            b"{\"a\":1,\"b\":2}",
            b"{\"\":1,\"a\":2}",
            b"{\"a\":1,\"\":2}",
            b"{\"A\":1}",
            b"{\"\\u0041\":1}",
            b"\"A\"",
            b"\"\\u0041\"",
            b"\"\\u001f\"",
            b"\"\\u001F\"",
            b"\"\\u000a\"",
            b"\"\\n\"",
            b"\"\\/\"",
            b"\"/\"",
            b"\"\x7f\"",
            b"\"\x1f\"",
            b"\"\\ud83d\\ude00\"",
            "\"\u{1f600}\"".as_bytes(),
            b"\"\\ud83d\"",
            b"\"\xed\xa0\xbd\"",
            b"\"\xc0\xaf\"",
            b"\"\xff\"",
            b"\"\xe2\x82\"",
            b"\"abc",
            b"\"a\"b\"",
            b"[1,2]",
            b"[1,,2]",
            b"[1 ,2]",
            b"{\"a\":[{\"c\":true,\"d\":null}],\"b\":1}",
            b"{\"index\":3}",
            b"{\"index\":3}\n",
            b"{\"index\":3}x",
            "{\"\u{10000}\":2,\"\u{e000}\":3,\"\u{ffff}\":1}".as_bytes(),
            "{\"\u{e000}\":3,\"\u{10000}\":2}".as_bytes(),
            "{\"\u{ffff}\":1,\"\u{e000}\":3}".as_bytes(),
            "{\"\\u0000\":1,\"\u{1}\":2}".as_bytes(),
            b"{\"\\u0000\":1,\"\\u0001\":2}",
            b"{\"\\u0001\":1,\"\\u0000\":2}",
            b"{\"\\n\":1,\"\\t\":2}",
            b"{\"\\t\":1,\"\\n\":2}",
            b"{\"\\\"\":1,\"!\":2}",
            b"{\"!\":1,\"\\\"\":2}",
            b"{\"\\\\\":1,\"]\":2}",
            b"{\"[\":1,\"\\\\\":2}",
            b"{\"a\":1,\"a\\u0000\":2}",
            b"{\"a\\u0000\":1,\"a\":2}",
            "{\"a\":1,\"\u{e9}\":2}".as_bytes(),
            "{\"\u{e9}\":1,\"a\":2}".as_bytes(),
            "{\"\u{e9}\":1,\"\u{e9}\":2}".as_bytes(),
        ];
        for case in cases {
            assert_eq!(
                accepts(case),
                reference(case),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn the_nesting_limit_is_the_reference_s() {
        for depth in MAX_DEPTH - 2..MAX_DEPTH + 3 {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                assert_eq!(accepts(text.as_bytes()), depth <= MAX_DEPTH, "{depth}");
                assert_eq!(
                    accepts(text.as_bytes()),
                    reference(text.as_bytes()),
                    "{depth}"
                );
            }
        }
    }

    #[test]
    fn the_named_mutations_are_refused() {
        let record = canonicalize(&json!({
            "index": 7, "kind": "release", "user_id": "u-A", "n": 10,
            "withheld": [{"field": "a", "reason": "b"}], "detail": {}
        }))
        .unwrap();
        assert_eq!(check_canonical(record.as_bytes()), Ok(Some(7)));
        let refused = [
            record.replace(
                "\"index\":7,\"kind\":\"release\"",
                "\"kind\":\"release\",\"index\":7",
            ),
            record.replacen(":", ": ", 1),
            record.replace("u-A", "u-\\u0041"),
            record.replace("u-A", "u-\\u001F"),
            record.replace("10", "10.0"),
            record.replace("10", "010"),
            record.replace("10", "-0"),
            record.replace("\"n\":10", "\"n\":10,\"n\":10"),
            format!("{record} "),
            format!("{record}x"),
            format!(" {record}"),
        ];
        for text in refused {
            assert!(!accepts(text.as_bytes()), "{text}");
            assert!(!reference(text.as_bytes()), "{text}");
        }
        let mut invalid = record.into_bytes();
        let at = invalid.iter().position(|b| *b == b'A').unwrap();
        invalid[at] = 0xc1;
        assert!(!accepts(&invalid));
    }

    #[test]
    fn the_index_is_that_of_the_top_level_object_only() {
        assert_eq!(check_canonical(b"{\"index\":0}"), Ok(Some(0)));
        assert_eq!(
            check_canonical(b"{\"a\":{\"index\":5},\"index\":9007199254740991}"),
            Ok(Some(9_007_199_254_740_991))
        );
        assert_eq!(check_canonical(b"{\"a\":{\"index\":5}}"), Ok(None));
        assert_eq!(check_canonical(b"{\"index\":-5}"), Ok(None));
        assert_eq!(check_canonical(b"{\"index\":\"5\"}"), Ok(None));
        assert_eq!(check_canonical(b"[{\"index\":5}]"), Ok(None));
        assert_eq!(check_canonical(b"5"), Ok(None));
    }

    #[test]
    fn a_prefix_check_stops_at_the_end_of_the_value() {
        assert_eq!(
            check_canonical_prefix(b"{\"index\":4}\n{\"index\":5}"),
            Ok((11, Some(4)))
        );
        assert_eq!(
            check_canonical(b"{\"index\":4}\n"),
            Err(NotCanonical { at: 11 })
        );
    }
}
