//! Label and field selectors, as the `labelSelector` and `fieldSelector` query parameters and the
//! `metav1.LabelSelector` objects of workloads spell them. Parsing follows upstream's grammar and error
//! texts word for word (apimachinery `labels.Parse`, `fields.ParseSelector`, `metav1.LabelSelectorAsSelector`),
//! because kubectl users and client libraries see these messages verbatim; matching follows upstream's
//! rules (a missing label fails `=`/`in` but passes `!=`/`notin`; a missing field reads as "").
//! Pure: no IO, and nothing here knows which fields a kind supports (the caller checks that with
//! `FieldSelector::requirements`).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// The operator of one label requirement. `=` and `==` stay distinct only so `Display` round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LabelOp {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One validated label requirement: `key op values`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
    values: Vec<String>,
}

/// A parsed label selector. Upstream distinguishes "everything" (no requirements) from "nothing" (what a
/// missing `metav1.LabelSelector` converts to), so a controller with a nil selector selects no pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelector {
    /// `None` is upstream's `labels.Nothing()`.
    requirements: Option<Vec<LabelRequirement>>,
}

impl Default for LabelSelector {
    /// The selector that matches every object, as an absent `labelSelector` parameter means.
    fn default() -> Self {
        Self { requirements: Some(Vec::new()) }
    }
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`.
    pub fn parse(selector: &str) -> Result<LabelSelector, String> {
        let mut parser = Parser { items: lex(selector), position: 0 };
        let mut requirements = parser.parse()?;
        // Upstream sorts by key so the selector prints (and caches) deterministically.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements: Some(requirements) })
    }

    /// Converts a `metav1.LabelSelector` object (`matchLabels` and `matchExpressions`). `null` (an absent
    /// selector) matches nothing; `{}` matches everything.
    pub fn from_label_selector_json(selector: &Value) -> Result<LabelSelector, String> {
        let object = match selector {
            Value::Null => return Ok(Self { requirements: None }),
            Value::Object(object) => object,
            other => return Err(format!("a label selector must be an object, not {other}")),
        };
        let match_labels = object.get("matchLabels").and_then(Value::as_object);
        let expressions = object.get("matchExpressions").and_then(Value::as_array);
        let mut requirements = Vec::new();
        for (key, value) in match_labels.into_iter().flatten() {
            let value = value.as_str().unwrap_or_default().to_string();
            requirements.push(new_requirement(key, LabelOp::Equals, vec![value])?);
        }
        for expression in expressions.into_iter().flatten() {
            let operator = expression.get("operator").and_then(Value::as_str).unwrap_or_default();
            let op = match operator {
                "In" => LabelOp::In,
                "NotIn" => LabelOp::NotIn,
                "Exists" => LabelOp::Exists,
                "DoesNotExist" => LabelOp::DoesNotExist,
                other => return Err(format!("{} is not a valid label selector operator", go_quote(other))),
            };
            let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
            let values = expression.get("values").and_then(Value::as_array).into_iter().flatten();
            let values = values.map(|v| v.as_str().unwrap_or_default().to_string()).collect();
            requirements.push(new_requirement(key, op, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements: Some(requirements) })
    }

    /// True when the selector restricts nothing (upstream `Empty()`; "nothing" is not empty).
    pub fn is_empty(&self) -> bool {
        self.requirements.as_ref().is_some_and(Vec::is_empty)
    }

    /// Whether an object's `metadata.labels` satisfy every requirement. Absent labels are an empty set.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let Some(requirements) = &self.requirements else {
            return false;
        };
        let lookup = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        requirements.iter().all(|requirement| requirement.matches(lookup(&requirement.key)))
    }
}

impl fmt::Display for LabelSelector {
    /// Upstream's canonical `String()`: requirements sorted by key, values sorted, joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let requirements = self.requirements.as_deref().unwrap_or_default();
        for (index, requirement) in requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl LabelRequirement {
    fn matches(&self, value: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|candidate| candidate == v);
        match self.op {
            LabelOp::In | LabelOp::Equals | LabelOp::DoubleEquals => value.is_some_and(has),
            LabelOp::NotIn | LabelOp::NotEquals => !value.is_some_and(has),
            LabelOp::Exists => value.is_some(),
            LabelOp::DoesNotExist => value.is_none(),
            LabelOp::GreaterThan | LabelOp::LessThan => {
                let (Some(actual), [wanted]) = (value.and_then(|v| v.parse::<i64>().ok()), self.values.as_slice()) else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.op == LabelOp::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

impl fmt::Display for LabelRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operator = match self.op {
            LabelOp::DoesNotExist => return write!(f, "!{}", self.key),
            LabelOp::Exists => return f.write_str(&self.key),
            LabelOp::Equals => "=",
            LabelOp::DoubleEquals => "==",
            LabelOp::NotEquals => "!=",
            LabelOp::In => " in ",
            LabelOp::NotIn => " notin ",
            LabelOp::GreaterThan => ">",
            LabelOp::LessThan => "<",
        };
        let mut values = self.values.clone();
        values.sort();
        let values = values.join(",");
        match self.op {
            LabelOp::In | LabelOp::NotIn => write!(f, "{}{operator}({values})", self.key),
            _ => write!(f, "{}{operator}{values}", self.key),
        }
    }
}

/// Upstream `labels.NewRequirement`: validates the key, the value count for the operator and each value.
fn new_requirement(key: &str, op: LabelOp, values: Vec<String>) -> Result<LabelRequirement, String> {
    let mut errors = Vec::new();
    if let Err(detail) = validate_label_key(key) {
        errors.push(invalid("key", &go_quote(key), &detail));
    }
    let values_json = || {
        if values.is_empty() {
            "null".to_string()
        } else {
            Value::from(values.clone()).to_string()
        }
    };
    match op {
        LabelOp::In | LabelOp::NotIn if values.is_empty() => {
            errors.push(invalid("values", &values_json(), "for 'in', 'notin' operators, values set can't be empty"));
        }
        LabelOp::Equals | LabelOp::DoubleEquals | LabelOp::NotEquals if values.len() != 1 => {
            errors.push(invalid("values", &values_json(), "exact-match compatibility requires one single value"));
        }
        LabelOp::Exists | LabelOp::DoesNotExist if !values.is_empty() => {
            errors.push(invalid("values", &values_json(), "values set must be empty for exists and does not exist"));
        }
        LabelOp::GreaterThan | LabelOp::LessThan => {
            if values.len() != 1 {
                errors.push(invalid("values", &values_json(), "for 'Gt', 'Lt' operators, exactly one value is required"));
            }
            for (index, value) in values.iter().enumerate() {
                if value.parse::<i64>().is_err() {
                    let detail = "for 'Gt', 'Lt' operators, the value must be an integer";
                    errors.push(invalid(&format!("values[{index}]"), &go_quote(value), detail));
                }
            }
        }
        _ => {}
    }
    for (index, value) in values.iter().enumerate() {
        if let Err(detail) = validate_label_value(value) {
            errors.push(invalid(&format!("values[{index}][{key}]"), &go_quote(value), &detail));
        }
    }
    if errors.is_empty() {
        Ok(LabelRequirement { key: key.to_string(), op, values })
    } else {
        Err(aggregate(errors))
    }
}

/// `field.Invalid(path, value, detail).Error()`.
fn invalid(path: &str, rendered_value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {rendered_value}: {detail}")
}

/// `utilerrors.NewAggregate(...).Error()`: one message alone, several deduplicated inside `[...]`.
fn aggregate(errors: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for error in errors {
        if !seen.contains(&error) {
            seen.push(error);
        }
    }
    if seen.len() == 1 {
        seen.remove(0)
    } else {
        format!("[{}]", seen.join(", "))
    }
}

/// Go's `%q` for the strings selectors can hold: printable text kept, quotes, backslashes and control
/// characters escaped.
fn go_quote(s: &str) -> String {
    let mut quoted = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

// ---- label key and value validation (apimachinery validate/content), with upstream's messages ----

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
        alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric \
    characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
    alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// `content.RegexError`, including upstream's doubled spaces between examples.
fn regex_error(message: &str, regex: &str, examples: &[&str]) -> String {
    let mut text = format!("{message} (e.g. ");
    for (index, example) in examples.iter().enumerate() {
        if index > 0 {
            text.push_str(" or ");
        }
        text.push_str(&format!("'{example}', "));
    }
    text.push_str(&format!("regex used for validation is '{regex}')"));
    text
}

/// Matches `LABEL_KEY_FMT`: alphanumeric at both ends, `-`, `_`, `.` allowed inside.
fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let inner = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    match bytes {
        [] => false,
        [only] => only.is_ascii_alphanumeric(),
        [first, middle @ .., last] => first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() && middle.iter().all(inner),
    }
}

fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let bytes = label.as_bytes();
        let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match bytes {
            [] => false,
            [only] => edge(only),
            [first, middle @ .., last] => edge(first) && edge(last) && middle.iter().all(|b| edge(b) || *b == b'-'),
        }
    })
}

/// `content.IsLabelKey`, joined with `; ` as the selector parser reports it.
fn validate_label_key(key: &str) -> Result<(), String> {
    let name_regex_error = || regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"]);
    let parts: Vec<&str> = key.split('/').collect();
    let mut errors = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > 253 {
                    errors.push("prefix part must be no more than 253 bytes".to_string());
                }
                if !is_dns1123_subdomain(prefix) {
                    let detail = regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"]);
                    errors.push(format!("prefix part {detail}"));
                }
            }
            *name
        }
        _ => {
            return Err(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. \
                    'example.com/MyName')",
                name_regex_error()
            ))
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 bytes".to_string());
    }
    if !is_label_name(name) {
        errors.push(format!("name part {}", name_regex_error()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// `content.IsLabelValue`.
fn validate_label_value(value: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 bytes".to_string());
    }
    if !(value.is_empty() || is_label_name(value)) {
        errors.push(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

// ---- the label selector lexer and parser (apimachinery labels.Parse) ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(literal: &[u8]) -> Option<Token> {
    Some(match literal {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the whole input into tokens up front, ending with `EndOfString`, as upstream's `Parser.scan`.
fn lex(input: &str) -> Vec<(Token, String)> {
    let bytes = input.as_bytes();
    // Upstream's reader returns NUL at the end of input, so a NUL byte also ends it.
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    let bytes = &bytes[..end];
    let text = |range: &[u8]| String::from_utf8_lossy(range).into_owned();
    let mut items = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        if pos == bytes.len() {
            items.push((Token::EndOfString, String::new()));
            return items;
        }
        let start = pos;
        if is_special(bytes[pos]) {
            // Every special character is an operator alone; take the longest run that still is one
            // (`!=`, `==`), stopping at the first character that would not extend it.
            pos += 1;
            while pos < bytes.len() && keyword(&bytes[start..=pos]).is_some() {
                pos += 1;
            }
            let literal = &bytes[start..pos];
            items.push((keyword(literal).unwrap_or(Token::Identifier), text(literal)));
        } else {
            while pos < bytes.len() && !is_special(bytes[pos]) && !is_whitespace(bytes[pos]) {
                pos += 1;
            }
            let literal = &bytes[start..pos];
            items.push((keyword(literal).unwrap_or(Token::Identifier), text(literal)));
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    /// `in` and `notin` read as plain identifiers here, so `x in (in)` and a key named `in` work.
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn lookahead(&self, context: Context) -> (Token, String) {
        let (token, literal) = self.items[self.position.min(self.items.len() - 1)].clone();
        (Self::in_context(token, context), literal)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn in_context(token: Token, context: Context) -> Token {
        match (token, context) {
            (Token::In | Token::NotIn, Context::Values) => Token::Identifier,
            (token, _) => token,
        }
    }

    fn parse(&mut self) -> Result<Vec<LabelRequirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let requirement = self.parse_requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    let (token, literal) = self.consume(Context::Values);
                    match token {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (next, next_literal) = self.lookahead(Context::Values);
                            if next != Token::Identifier && next != Token::DoesNotExist {
                                return Err(format!("found '{next_literal}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{literal}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => return Err(format!("found '{literal}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<LabelRequirement, String> {
        let (key, unary) = self.parse_key_and_infer_operator()?;
        if let Some(op) = unary {
            return new_requirement(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            LabelOp::In | LabelOp::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        new_requirement(&key, op, values.into_iter().collect())
    }

    /// Reads `[!]key`; the operator is `Exists`/`DoesNotExist` when nothing but `,` or the end follows.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<LabelOp>), String> {
        let (mut token, mut literal) = self.consume(Context::Values);
        let negated = token == Token::DoesNotExist;
        if negated {
            (token, literal) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        if let Err(detail) = validate_label_key(&literal) {
            return Err(invalid("<nil>", &go_quote(&literal), &detail));
        }
        let (next, _) = self.lookahead(Context::Values);
        let unary = if negated {
            Some(LabelOp::DoesNotExist)
        } else if next == Token::EndOfString || next == Token::Comma {
            Some(LabelOp::Exists)
        } else {
            None
        };
        Ok((literal, unary))
    }

    fn parse_operator(&mut self) -> Result<LabelOp, String> {
        let (token, literal) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => LabelOp::In,
            Token::Equals => LabelOp::Equals,
            Token::DoubleEquals => LabelOp::DoubleEquals,
            Token::GreaterThan => LabelOp::GreaterThan,
            Token::LessThan => LabelOp::LessThan,
            Token::NotIn => LabelOp::NotIn,
            Token::NotEquals => LabelOp::NotEquals,
            _ => return Err(format!("found '{literal}', expected: in, notin, =, ==, !=, gt, lt")),
        })
    }

    /// `(a,b,c)`; empty entries are the empty value, and the set is sorted as upstream's `sets.String`.
    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    // Upstream reports the token seen before the list, not the one that failed.
                    return Err(format!("found '{literal}', expected: ')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{literal}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut values = BTreeSet::new();
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    values.insert(literal);
                    let (next, next_literal) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{next_literal}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    // `(,a`, `a,,b` and `a,)` all contribute the empty value.
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            values.insert(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            values.insert(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        let (next, _) = self.lookahead(Context::Values);
        if next == Token::EndOfString || next == Token::Comma {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (token, literal) = self.consume(Context::Values);
        if token == Token::Identifier {
            Ok(BTreeSet::from([literal]))
        } else {
            Err(format!("found '{literal}', expected: identifier"))
        }
    }
}

// ---- field selectors (apimachinery fields.ParseSelector) ----

/// `=` and `==` mean the same; `!=` is the only other operator field selectors have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Equals,
    NotEquals,
}

/// One `field op value` term, value already unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    op: FieldOp,
    value: String,
}

/// A parsed field selector: every requirement must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `metadata.name=foo,status.phase!=Running`; `\,`, `\=` and `\\` escape inside values.
    pub fn parse(selector: &str) -> Result<FieldSelector, String> {
        let mut terms = split_terms(selector);
        // Upstream sorts the raw terms so equal selectors compare and print equal.
        terms.sort();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|term| !term.is_empty()) {
            let Some((field, op, raw_value)) = split_term(term) else {
                return Err(format!("invalid selector: '{selector}'; can't understand '{term}'"));
            };
            let value = unescape_value(raw_value)?;
            // A bare `=` selects everything upstream (its identity transform drops empty terms).
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement { field: field.to_string(), op, value });
        }
        Ok(Self { requirements })
    }

    /// The terms as `(field, operator, value)`, the operator `=` or `!=` (upstream's `selection.Operator`),
    /// so the server can reject fields the kind does not support before matching.
    pub fn requirements(&self) -> Vec<(String, String, String)> {
        let operator = |op| if op == FieldOp::Equals { "=" } else { "!=" };
        self.requirements.iter().map(|r| (r.field.clone(), operator(r.op).to_string(), r.value.clone())).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value an `=` term pins `field` to, which lets a watch on `metadata.name=x` read one object.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op == FieldOp::Equals).map(|r| r.value.as_str())
    }

    /// Whether an object matches, given its field values; a field with no value reads as "" as upstream.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|requirement| {
            let actual = get(&requirement.field).unwrap_or_default();
            (actual == requirement.value) == (requirement.op == FieldOp::Equals)
        })
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, requirement) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            let op = if requirement.op == FieldOp::Equals { "=" } else { "!=" };
            let value = requirement.value.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=");
            write!(f, "{}{op}{value}", requirement.field)?;
        }
        Ok(())
    }
}

/// Splits on commas not preceded by a backslash escape.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (index, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..index]);
            start = index + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Finds the first operator, trying `!=`, `==`, `=` at each position.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (index, _) in term.char_indices() {
        let rest = &term[index..];
        for (operator, op) in [("!=", FieldOp::NotEquals), ("==", FieldOp::Equals), ("=", FieldOp::Equals)] {
            if let Some(value) = rest.strip_prefix(operator) {
                return Some((&term[..index], op, value));
            }
        }
    }
    None
}

fn unescape_value(raw: &str) -> Result<String, String> {
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!("invalid field selector: invalid escape sequence: \\{c}"));
            }
            value.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '=' {
            // Upstream prints the rune with %v, which is its code point number.
            return Err(format!("invalid field selector: unescaped character in value: {}", c as u32));
        } else {
            value.push(c);
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn parses_every_operator_and_prints_canonically() {
        let selector = LabelSelector::parse("tier notin (b,a), app=web,env==prod,x!=y,  has, !gone, n>3, m<10, z in (c)").unwrap();
        assert_eq!(selector.to_string(), "app=web,env==prod,!gone,has,m<10,n>3,tier notin (a,b),x!=y,z in (c)");
        assert!(!selector.is_empty());
    }

    #[test]
    fn empty_selector_matches_everything() {
        let selector = LabelSelector::parse("  ").unwrap();
        assert!(selector.is_empty());
        assert!(selector.matches(None));
        assert_eq!(selector, LabelSelector::default());
    }

    #[test]
    fn matching_follows_upstream_for_missing_labels() {
        let object_labels = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let check = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&object_labels));
        assert!(check("app=web"));
        assert!(!check("app=db"));
        assert!(!check("missing=x"));
        assert!(check("missing!=x"));
        assert!(check("missing notin (a)"));
        assert!(!check("missing in (a)"));
        assert!(check("tier in (back,front)"));
        assert!(!check("tier notin (back,front)"));
        assert!(check("app,!missing"));
        assert!(!check("!app"));
        assert!(check("n>4") && check("n<6") && !check("n>5"));
        assert!(!check("app>1"), "non-integer label values never satisfy gt");
        assert!(!LabelSelector::parse("app").unwrap().matches(None));
    }

    #[test]
    fn in_and_notin_are_values_and_keys_where_upstream_allows() {
        let selector = LabelSelector::parse("x in (in,notin)").unwrap();
        assert!(selector.matches(Some(&labels(json!({"x": "notin"})))));
        assert_eq!(LabelSelector::parse("in").unwrap().to_string(), "in");
    }

    #[test]
    fn empty_values_in_sets_and_exact_matches() {
        assert_eq!(LabelSelector::parse("x in (,a)").unwrap().to_string(), "x in (,a)");
        assert_eq!(LabelSelector::parse("x in ()").unwrap().to_string(), "x in ()");
        assert_eq!(LabelSelector::parse("x=").unwrap().to_string(), "x=");
        assert!(LabelSelector::parse("x=,y").unwrap().matches(Some(&labels(json!({"x": "", "y": "1"})))));
    }

    #[test]
    fn parse_errors_read_like_upstream() {
        let err = |s: &str| LabelSelector::parse(s).unwrap_err();
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("=a"), "found '=', expected: !, identifier, or 'end of string'");
        assert_eq!(err("a b"), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(err("a in b"), "unable to parse requirement: found 'b' expected: '('");
        assert_eq!(err("a in (b c)"), "unable to parse requirement: found 'c', expected: ',' or ')'");
        assert_eq!(err("a=(b)"), "unable to parse requirement: found '(', expected: identifier");
        assert_eq!(
            err("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' \
                operators, the value must be an integer"
        );
    }

    #[test]
    fn key_and_value_validation_messages_match_upstream() {
        assert_eq!(
            LabelSelector::parse("Bad_Key_=x").unwrap_err(),
            "unable to parse requirement: <nil>: Invalid value: \"Bad_Key_\": name part must \
                consist of alphanumeric characters, '-', '_' or '.', and must start and end with \
                an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used \
                for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            LabelSelector::parse("Example.com/app=x").unwrap_err(),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/app\": prefix part a \
                lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
                '-' or '.', and must start and end with an alphanumeric character (e.g. \
                'example.com', regex used for validation is \
                '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(
            LabelSelector::parse("app=-web").unwrap_err(),
            "unable to parse requirement: values[0][app]: Invalid value: \"-web\": a valid label \
                must be an empty string or consist of alphanumeric characters, '-', '_' or '.', \
                and must start and end with an alphanumeric character (e.g. 'MyValue',  or \
                'my_value',  or '12345', regex used for validation is \
                '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let long = "a".repeat(64);
        assert!(LabelSelector::parse(&format!("{long}=x")).unwrap_err().contains("name part must be no more than 63 bytes"));
        assert!(LabelSelector::parse("app.kubernetes.io/name=web").is_ok());
    }

    #[test]
    fn label_selector_objects_convert_like_metav1() {
        let selector = LabelSelector::from_label_selector_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }))
        .unwrap();
        assert_eq!(selector.to_string(), "app=web,!canary,tier in (edge,front)");
        assert!(selector.matches(Some(&labels(json!({"app": "web", "tier": "edge"})))));
        assert!(!selector.matches(Some(&labels(json!({"app": "web", "tier": "edge", "canary": "1"})))));

        let nothing = LabelSelector::from_label_selector_json(&Value::Null).unwrap();
        assert!(!nothing.matches(Some(&labels(json!({"app": "web"})))) && !nothing.is_empty());
        let everything = LabelSelector::from_label_selector_json(&json!({})).unwrap();
        assert!(everything.matches(None) && everything.is_empty());

        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]});
        assert_eq!(LabelSelector::from_label_selector_json(&bad).unwrap_err(), "\"Gt\" is not a valid label selector operator");
        let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In"}]});
        assert_eq!(
            LabelSelector::from_label_selector_json(&empty_in).unwrap_err(),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        let exists_with_values = json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]});
        assert_eq!(
            LabelSelector::from_label_selector_json(&exists_with_values).unwrap_err(),
            "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
        );
    }

    #[test]
    fn field_selectors_parse_sort_and_match() {
        let selector = FieldSelector::parse("status.phase!=Running,metadata.name==web,spec.nodeName=n1").unwrap();
        let triple = |f: &str, op: &str, v: &str| (f.to_string(), op.to_string(), v.to_string());
        assert_eq!(
            selector.requirements(),
            [triple("metadata.name", "=", "web"), triple("spec.nodeName", "=", "n1"), triple("status.phase", "!=", "Running")]
        );
        assert_eq!(selector.to_string(), "metadata.name=web,spec.nodeName=n1,status.phase!=Running");
        assert_eq!(selector.requires_exact_match("metadata.name"), Some("web"));
        assert_eq!(selector.requires_exact_match("status.phase"), None);
        let pod = |field: &str| match field {
            "metadata.name" => Some("web".to_string()),
            "spec.nodeName" => Some("n1".to_string()),
            "status.phase" => Some("Pending".to_string()),
            _ => None,
        };
        assert!(selector.matches(pod));
        assert!(!FieldSelector::parse("status.phase=Running").unwrap().matches(pod));
        assert!(FieldSelector::parse("spec.missing=").unwrap().matches(pod), "absent fields read as empty");
    }

    #[test]
    fn field_selector_escapes_and_errors() {
        let selector = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
        assert_eq!(selector.requirements()[0].2, r"a,b=c\d");
        assert_eq!(selector.to_string(), r"metadata.name=a\,b\=c\\d");
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse("a=b,").unwrap().requirements().len() == 1);
        assert_eq!(FieldSelector::parse("foo").unwrap_err(), "invalid selector: 'foo'; can't understand 'foo'");
        assert_eq!(FieldSelector::parse("a=b=c").unwrap_err(), "invalid field selector: unescaped character in value: 61");
        assert_eq!(FieldSelector::parse(r"a=b\x").unwrap_err(), r"invalid field selector: invalid escape sequence: \x");
        assert_eq!(FieldSelector::parse(r"a=b\").unwrap_err(), r"invalid field selector: invalid escape sequence: \");
    }
}
