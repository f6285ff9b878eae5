//! Lexer for gremlin-lang text: identifiers, string and numeric literals, punctuation.
//!
//! Tokens are produced on demand. Lexing never fails as a whole: a character or literal that cannot be read becomes a
//! [`Tok::Bad`] token carrying the reason, and the parser reports it if (and only if) it reaches
//! it. This lets the parser recognise a lambda (`{ it -> ... }`) at its `{` even when the body
//! holds characters gremlin-lang has no token for.

use std::sync::Arc;

use num_bigint::BigInt;

use super::NUMBER_DIGITS_MAX;
use crate::value::{BigDecimal, Value};

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Ident(Arc<str>),
    Str(Arc<str>),
    Num(Value),
    LParen,
    RParen,
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    Semi,
    /// Something that is not a gremlin-lang token, with the reason.
    Bad(String),
    Eof,
}

/// A token with its byte range in the text.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Tok {
    /// How the token reads in an error message ("found ..."); `raw` is its text.
    pub(crate) fn describe(&self, raw: &str) -> String {
        const SHOWN_CHARS_MAX: usize = 32;
        let shown: String = raw.chars().take(SHOWN_CHARS_MAX).collect();
        let ellipsis = if shown.len() < raw.len() { "..." } else { "" };
        match self {
            Tok::Ident(_) => format!("'{shown}{ellipsis}'"),
            Tok::Str(_) => format!("string {shown}{ellipsis}"),
            Tok::Num(_) => format!("number {shown}{ellipsis}"),
            Tok::LParen => "'('".to_string(),
            Tok::RParen => "')'".to_string(),
            Tok::LBrack => "'['".to_string(),
            Tok::RBrack => "']'".to_string(),
            Tok::LBrace => "'{'".to_string(),
            Tok::RBrace => "'}'".to_string(),
            Tok::Comma => "','".to_string(),
            Tok::Dot => "'.'".to_string(),
            Tok::Colon => "':'".to_string(),
            Tok::Semi => "';'".to_string(),
            Tok::Bad(why) => why.clone(),
            Tok::Eof => "end of input".to_string(),
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$' || (!c.is_ascii() && c.is_alphabetic())
}

fn is_ident_part(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

/// The lexer: hands out one token at a time, then [`Tok::Eof`] forever.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0 }
    }

    /// The next token.
    pub(crate) fn next_token(&mut self) -> Token {
        self.skip_trivia();
        let start = self.pos;
        let tok = match self.peek() {
            None => Tok::Eof,
            Some(c) => self.token(c),
        };
        Token {
            tok,
            start,
            end: self.pos,
        }
    }
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek2() == Some('/') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn token(&mut self, c: char) -> Tok {
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBrack),
            ']' => Some(Tok::RBrack),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            ',' => Some(Tok::Comma),
            '.' => Some(Tok::Dot),
            ':' => Some(Tok::Colon),
            ';' => Some(Tok::Semi),
            _ => None,
        };
        if let Some(t) = single {
            self.bump();
            return t;
        }
        if c == '"' || c == '\'' {
            return self.string(c);
        }
        if c.is_ascii_digit() {
            return self.number(false);
        }
        if c == '-' || c == '+' {
            let after = self.rest().get(1..).unwrap_or("");
            if after.starts_with(|d: char| d.is_ascii_digit()) {
                self.bump();
                return self.number(c == '-');
            }
            if let Some(tail) = after.strip_prefix("Infinity") {
                if !tail.starts_with(is_ident_part) {
                    self.pos += 1 + "Infinity".len();
                    let x = if c == '-' {
                        f64::NEG_INFINITY
                    } else {
                        f64::INFINITY
                    };
                    return Tok::Num(Value::Double(x));
                }
            }
        }
        if is_ident_start(c) {
            let start = self.pos;
            while self.peek().is_some_and(is_ident_part) {
                self.bump();
            }
            return Tok::Ident(Arc::from(self.text.get(start..self.pos).unwrap_or("")));
        }
        self.bump();
        Tok::Bad(format!("an unexpected character {c:?}"))
    }

    /// A quoted string with Java escapes (`\n`, `\'`, octal `\12`, `\u00e9`, line joins).
    fn string(&mut self, quote: char) -> Tok {
        self.bump();
        let mut out = String::new();
        let mut pending_high: Option<u32> = None;
        loop {
            let Some(c) = self.bump() else {
                return Tok::Bad("an unterminated string".to_string());
            };
            if c == quote {
                if pending_high.is_some() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                return Tok::Str(Arc::from(out));
            }
            if c != '\\' {
                if pending_high.take().is_some() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                out.push(c);
                continue;
            }
            let Some(e) = self.bump() else {
                return Tok::Bad("an unterminated string".to_string());
            };
            let simple = match e {
                'b' => Some('\u{8}'),
                't' => Some('\t'),
                'n' => Some('\n'),
                'f' => Some('\u{c}'),
                'r' => Some('\r'),
                '"' => Some('"'),
                '\'' => Some('\''),
                '\\' => Some('\\'),
                _ => None,
            };
            if let Some(s) = simple {
                if pending_high.take().is_some() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
                out.push(s);
                continue;
            }
            match e {
                '\n' => {}
                '\r' => {
                    if self.peek() == Some('\n') {
                        self.bump();
                    }
                }
                '0'..='7' => {
                    // Java octal escape: up to three digits, at most \377.
                    let mut v = e.to_digit(8).unwrap_or(0);
                    let max_digits = if e <= '3' { 3 } else { 2 };
                    for _ in 1..max_digits {
                        match self.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                v = v * 8 + d;
                                self.bump();
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                'u' => {
                    while self.peek() == Some('u') {
                        self.bump();
                    }
                    let hex = self.rest().get(..4).unwrap_or("");
                    let Ok(unit) = u32::from_str_radix(hex, 16) else {
                        return Tok::Bad("a bad \\u escape in a string".to_string());
                    };
                    if hex.len() != 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Tok::Bad("a bad \\u escape in a string".to_string());
                    }
                    self.pos += 4;
                    if (0xD800..0xDC00).contains(&unit) {
                        if pending_high.replace(unit).is_some() {
                            out.push(char::REPLACEMENT_CHARACTER);
                        }
                    } else if (0xDC00..0xE000).contains(&unit) {
                        match pending_high.take() {
                            Some(high) => {
                                let cp = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00);
                                out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
                            }
                            None => out.push(char::REPLACEMENT_CHARACTER),
                        }
                    } else {
                        if pending_high.take().is_some() {
                            out.push(char::REPLACEMENT_CHARACTER);
                        }
                        out.push(char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                }
                other => {
                    return Tok::Bad(format!("an unknown escape '\\{other}' in a string"));
                }
            }
        }
    }

    /// Digits and underscores (underscores only between digits), returned without underscores.
    fn digits(&mut self, radix: u32) -> Result<String, String> {
        let mut out = String::new();
        let mut last_underscore = false;
        while let Some(c) = self.peek() {
            if c.is_digit(radix) {
                out.push(c);
                last_underscore = false;
            } else if c == '_' && !out.is_empty() {
                last_underscore = true;
            } else {
                break;
            }
            self.bump();
        }
        if last_underscore {
            return Err("a number ending in '_'".to_string());
        }
        if out.len() > NUMBER_DIGITS_MAX {
            return Err(format!(
                "a number longer than the limit of {NUMBER_DIGITS_MAX} digits"
            ));
        }
        Ok(out)
    }

    /// A numeric literal after its optional sign (already consumed).
    fn number(&mut self, negative: bool) -> Tok {
        match self.number_inner(negative) {
            Ok(v) => {
                if self.peek().is_some_and(is_ident_part) {
                    while self.peek().is_some_and(is_ident_part) {
                        self.bump();
                    }
                    return Tok::Bad("a malformed number".to_string());
                }
                Tok::Num(v)
            }
            Err(why) => {
                while self.peek().is_some_and(is_ident_part) {
                    self.bump();
                }
                Tok::Bad(why)
            }
        }
    }

    fn number_inner(&mut self, negative: bool) -> Result<Value, String> {
        let rest = self.rest();
        if rest.starts_with("0x") || rest.starts_with("0X") {
            self.pos += 2;
            let digits = self.digits(16)?;
            if digits.is_empty() {
                return Err("a hexadecimal number without digits".to_string());
            }
            let suffix = self.int_suffix();
            return integer(&digits, 16, negative, suffix);
        }
        let int_part = self.digits(10)?;
        let mut frac: Option<String> = None;
        let mut exp: Option<i64> = None;
        if self.peek() == Some('.') && self.peek2().is_some_and(|d| d.is_ascii_digit()) {
            self.bump();
            frac = Some(self.digits(10)?);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let after = self.rest().get(1..).unwrap_or("");
            let signed = after.starts_with(['+', '-'])
                && after
                    .get(1..)
                    .is_some_and(|s| s.starts_with(|d: char| d.is_ascii_digit()));
            if signed || after.starts_with(|d: char| d.is_ascii_digit()) {
                self.bump();
                let mut neg_exp = false;
                if let Some(s @ ('+' | '-')) = self.peek() {
                    neg_exp = s == '-';
                    self.bump();
                }
                let e = self.digits(10)?;
                let e: i64 = e
                    .parse()
                    .map_err(|_| "an exponent out of range".to_string())?;
                exp = Some(if neg_exp { -e } else { e });
            }
        }
        let float_suffix = match self.peek() {
            Some(c @ ('f' | 'F' | 'd' | 'D' | 'm' | 'M')) => Some(c.to_ascii_lowercase()),
            _ => None,
        };
        if frac.is_some() || exp.is_some() || float_suffix.is_some() {
            if float_suffix.is_some() {
                self.bump();
            }
            return float(
                negative,
                &int_part,
                frac.as_deref().unwrap_or(""),
                exp.unwrap_or(0),
                float_suffix,
            );
        }
        let suffix = self.int_suffix();
        if int_part.len() > 1 && int_part.starts_with('0') {
            if !int_part.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err("an octal number with a digit above 7".to_string());
            }
            return integer(&int_part, 8, negative, suffix);
        }
        integer(&int_part, 10, negative, suffix)
    }

    fn int_suffix(&mut self) -> Option<char> {
        match self.peek() {
            Some(c @ ('b' | 'B' | 's' | 'S' | 'n' | 'N' | 'i' | 'I' | 'l' | 'L')) => {
                self.bump();
                Some(c.to_ascii_lowercase())
            }
            _ => None,
        }
    }
}

/// Integer literal: suffix `b` Byte, `s` Short, `i` Int, `l` Long, `n` BigInteger; none: Int if it
/// fits, else Long, else BigInteger (TinkerPop's `GenericLiteralVisitor`).
fn integer(
    digits: &str,
    radix: u32,
    negative: bool,
    suffix: Option<char>,
) -> Result<Value, String> {
    let mut n = BigInt::parse_bytes(digits.as_bytes(), radix)
        .ok_or_else(|| "a malformed integer".to_string())?;
    if negative {
        n = -n;
    }
    // A hexadecimal or octal literal within the digit limit can still print (in decimal) past
    // it; the limit is on the value, so that whatever parses prints back to text that parses.
    // 13,000 bits is below 4,096 decimal digits' 13,606, so only longer values pay for the check.
    if radix != 10 && n.bits() > 13_000 && n.magnitude().to_string().len() > NUMBER_DIGITS_MAX {
        return Err(format!(
            "a number longer than the limit of {NUMBER_DIGITS_MAX} decimal digits"
        ));
    }
    let range = |ty: &str| format!("an integer out of range for {ty}");
    Ok(match suffix {
        Some('b') => Value::Byte(i8::try_from(&n).map_err(|_| range("Byte"))?),
        Some('s') => Value::Short(i16::try_from(&n).map_err(|_| range("Short"))?),
        Some('i') => Value::Int(i32::try_from(&n).map_err(|_| range("Integer"))?),
        Some('l') => Value::Long(i64::try_from(&n).map_err(|_| range("Long"))?),
        Some(_) => Value::BigInt(n),
        None => {
            if let Ok(i) = i32::try_from(&n) {
                Value::Int(i)
            } else if let Ok(l) = i64::try_from(&n) {
                Value::Long(l)
            } else {
                Value::BigInt(n)
            }
        }
    })
}

/// Decimal literal: suffix `f` Float, `d` or none Double, `m` BigDecimal.
fn float(
    negative: bool,
    int_part: &str,
    frac: &str,
    exp: i64,
    suffix: Option<char>,
) -> Result<Value, String> {
    if suffix == Some('m') {
        let digits = format!("{int_part}{frac}");
        let mut unscaled = BigInt::parse_bytes(digits.as_bytes(), 10)
            .ok_or_else(|| "a malformed decimal".to_string())?;
        if negative {
            unscaled = -unscaled;
        }
        let scale = i64::try_from(frac.len())
            .unwrap_or(i64::MAX)
            .saturating_sub(exp);
        let scale =
            i32::try_from(scale).map_err(|_| "a BigDecimal scale out of range".to_string())?;
        return Ok(Value::BigDecimal(BigDecimal { unscaled, scale }));
    }
    let sign = if negative { "-" } else { "" };
    let text = if frac.is_empty() {
        format!("{sign}{int_part}e{exp}")
    } else {
        format!("{sign}{int_part}.{frac}e{exp}")
    };
    if suffix == Some('f') {
        let x: f32 = text.parse().map_err(|_| "a malformed float".to_string())?;
        Ok(Value::Float(x))
    } else {
        let x: f64 = text.parse().map_err(|_| "a malformed double".to_string())?;
        Ok(Value::Double(x))
    }
}
