//! The `math()` step's expression language (exp4j as TinkerPop uses it): numbers, variables
//! (`_`, step labels, side-effect keys), `+ - * / % ^`, unary `+`/`-`, parentheses, the
//! one-argument functions `abs acos asin atan cbrt ceil cos cosh exp expm1 floor log log10
//! log1p log2 sin sinh sqrt tan tanh signum cot`, and the constants `pi`, `π`, `e`, `φ`.
//!
//! Precedence as exp4j: `+ -` (500) < `* / %` (1000) < unary `+ -` (5000) < `^` (10000,
//! right-associative), so `-2^2` is `-4`. Division or modulo by zero raises
//! "Division by zero!" like exp4j.

use super::SemanticsError;

/// Parser recursion limit (nested parentheses and unary operators).
pub const DEPTH_MAX: usize = 256;
/// Expression length limit, in bytes.
pub const SIZE_BYTES_MAX: usize = 64 * 1024;

/// A one-argument function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Abs,
    Acos,
    Asin,
    Atan,
    Cbrt,
    Ceil,
    Cos,
    Cosh,
    Cot,
    Exp,
    Expm1,
    Floor,
    Log,
    Log10,
    Log1p,
    Log2,
    Signum,
    Sin,
    Sinh,
    Sqrt,
    Tan,
    Tanh,
}

impl Func {
    fn by_name(name: &str) -> Option<Func> {
        Some(match name {
            "abs" => Func::Abs,
            "acos" => Func::Acos,
            "asin" => Func::Asin,
            "atan" => Func::Atan,
            "cbrt" => Func::Cbrt,
            "ceil" => Func::Ceil,
            "cos" => Func::Cos,
            "cosh" => Func::Cosh,
            "cot" => Func::Cot,
            "exp" => Func::Exp,
            "expm1" => Func::Expm1,
            "floor" => Func::Floor,
            "log" => Func::Log,
            "log10" => Func::Log10,
            "log1p" => Func::Log1p,
            "log2" => Func::Log2,
            "signum" => Func::Signum,
            "sin" => Func::Sin,
            "sinh" => Func::Sinh,
            "sqrt" => Func::Sqrt,
            "tan" => Func::Tan,
            "tanh" => Func::Tanh,
            _ => return None,
        })
    }

    fn apply(self, x: f64) -> Result<f64, SemanticsError> {
        Ok(match self {
            Func::Abs => x.abs(),
            Func::Acos => x.acos(),
            Func::Asin => x.asin(),
            Func::Atan => x.atan(),
            Func::Cbrt => x.cbrt(),
            Func::Ceil => x.ceil(),
            Func::Cos => x.cos(),
            Func::Cosh => x.cosh(),
            Func::Cot => {
                let t = x.tan();
                if t == 0.0 {
                    return Err(SemanticsError::arithmetic("Division by zero in cotangent!"));
                }
                1.0 / t
            }
            Func::Exp => x.exp(),
            Func::Expm1 => x.exp_m1(),
            Func::Floor => x.floor(),
            Func::Log => x.ln(),
            Func::Log10 => x.log10(),
            Func::Log1p => x.ln_1p(),
            Func::Log2 => x.log2(),
            Func::Signum => {
                if x.is_nan() || x == 0.0 {
                    x
                } else {
                    x.signum()
                }
            }
            Func::Sin => x.sin(),
            Func::Sinh => x.sinh(),
            Func::Sqrt => x.sqrt(),
            Func::Tan => x.tan(),
            Func::Tanh => x.tanh(),
        })
    }
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Var(String),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
}

impl Expr {
    /// Variable names in first-appearance order, without duplicates.
    pub fn variables(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_vars(&mut out);
        out
    }

    fn collect_vars(&self, out: &mut Vec<String>) {
        match self {
            Expr::Num(_) => {}
            Expr::Var(v) => {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Expr::Neg(e) | Expr::Call(_, e) => e.collect_vars(out),
            Expr::Bin(_, a, b) => {
                a.collect_vars(out);
                b.collect_vars(out);
            }
        }
    }

    /// Evaluates with `lookup` resolving variables; an unresolved variable is an error.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<f64>) -> Result<f64, SemanticsError> {
        match self {
            Expr::Num(x) => Ok(*x),
            Expr::Var(v) => lookup(v).ok_or_else(|| {
                SemanticsError::illegal_argument(format!(
                    "No value has been set for the variable '{v}'"
                ))
            }),
            Expr::Neg(e) => Ok(-e.eval(lookup)?),
            Expr::Call(f, e) => f.apply(e.eval(lookup)?),
            Expr::Bin(op, a, b) => {
                let x = a.eval(lookup)?;
                let y = b.eval(lookup)?;
                Ok(match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => {
                        if y == 0.0 {
                            return Err(SemanticsError::arithmetic("Division by zero!"));
                        }
                        x / y
                    }
                    BinOp::Mod => {
                        if y == 0.0 {
                            return Err(SemanticsError::arithmetic("Division by zero!"));
                        }
                        x % y
                    }
                    BinOp::Pow => x.powf(y),
                })
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    LParen,
    RParen,
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(src: &str) -> Result<Vec<Tok>, SemanticsError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                i += 1;
            }
            // Exponent: e/E followed by digits (optionally signed).
            if chars.get(i).is_some_and(|c| *c == 'e' || *c == 'E') {
                let mut j = i + 1;
                if chars.get(j).is_some_and(|c| *c == '+' || *c == '-') {
                    j += 1;
                }
                if chars.get(j).is_some_and(|c| c.is_ascii_digit()) {
                    while chars.get(j).is_some_and(|c| c.is_ascii_digit()) {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let x = text.parse::<f64>().map_err(|_| {
                SemanticsError::illegal_argument(format!("Invalid number in expression: {text}"))
            })?;
            toks.push(Tok::Num(x));
        } else if is_name_start(c) {
            let start = i;
            while chars.get(i).is_some_and(|c| is_name_char(*c)) {
                i += 1;
            }
            toks.push(Tok::Name(chars[start..i].iter().collect()));
        } else {
            match c {
                '+' | '-' | '*' | '/' | '%' | '^' => toks.push(Tok::Op(c)),
                '(' => toks.push(Tok::LParen),
                ')' => toks.push(Tok::RParen),
                other => {
                    return Err(SemanticsError::illegal_argument(format!(
                        "Unknown operator or function: '{other}'"
                    )))
                }
            }
            i += 1;
        }
    }
    Ok(toks)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn bin_info(c: char) -> Option<(BinOp, u32, bool)> {
    Some(match c {
        '+' => (BinOp::Add, 500, false),
        '-' => (BinOp::Sub, 500, false),
        '*' => (BinOp::Mul, 1000, false),
        '/' => (BinOp::Div, 1000, false),
        '%' => (BinOp::Mod, 1000, false),
        '^' => (BinOp::Pow, 10000, true),
        _ => return None,
    })
}

const UNARY_PRECEDENCE: u32 = 5000;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expr(&mut self, min_prec: u32, depth: usize) -> Result<Expr, SemanticsError> {
        if depth > DEPTH_MAX {
            return Err(SemanticsError::illegal_argument(
                "Expression is nested too deeply",
            ));
        }
        let mut lhs = self.prefix(depth)?;
        loop {
            let (op, prec, right) = match self.peek() {
                Some(Tok::Op(c)) => match bin_info(*c) {
                    Some(info) => info,
                    None => break,
                },
                // Implicit multiplication (exp4j default): `2x`, `2(x)`, `(a)(b)`.
                Some(Tok::Name(_)) | Some(Tok::LParen) | Some(Tok::Num(_)) => {
                    (BinOp::Mul, 1000, false)
                }
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            if matches!(self.peek(), Some(Tok::Op(_))) {
                self.pos += 1;
            }
            let next_min = if right { prec } else { prec + 1 };
            let rhs = self.expr(next_min, depth + 1)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn prefix(&mut self, depth: usize) -> Result<Expr, SemanticsError> {
        match self.next() {
            Some(Tok::Num(x)) => Ok(Expr::Num(x)),
            Some(Tok::Op('-')) => Ok(Expr::Neg(Box::new(self.expr(UNARY_PRECEDENCE, depth + 1)?))),
            Some(Tok::Op('+')) => self.expr(UNARY_PRECEDENCE, depth + 1),
            Some(Tok::LParen) => {
                let e = self.expr(0, depth + 1)?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(SemanticsError::illegal_argument(
                        "Mismatched parentheses detected. Please check the expression",
                    )),
                }
            }
            Some(Tok::Name(name)) => {
                if let Some(f) = Func::by_name(&name) {
                    if self.peek() == Some(&Tok::LParen) {
                        self.pos += 1;
                        let arg = self.expr(0, depth + 1)?;
                        return match self.next() {
                            Some(Tok::RParen) => Ok(Expr::Call(f, Box::new(arg))),
                            _ => Err(SemanticsError::illegal_argument(format!(
                                "Invalid number of arguments available for '{name}' function"
                            ))),
                        };
                    }
                }
                Ok(match name.as_str() {
                    "pi" | "π" => Expr::Num(std::f64::consts::PI),
                    "e" => Expr::Num(std::f64::consts::E),
                    "φ" => Expr::Num(1.618_033_988_749_895),
                    _ => Expr::Var(name),
                })
            }
            Some(t) => Err(SemanticsError::illegal_argument(format!(
                "Unexpected token in expression: {t:?}"
            ))),
            None => Err(SemanticsError::illegal_argument(
                "Expression ended unexpectedly",
            )),
        }
    }
}

/// Parses a `math()` expression.
pub fn parse(src: &str) -> Result<Expr, SemanticsError> {
    if src.len() > SIZE_BYTES_MAX {
        return Err(SemanticsError::illegal_argument("Expression is too long"));
    }
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err(SemanticsError::illegal_argument(
            "Expression can not be empty",
        ));
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr(0, 0)?;
    if p.pos < p.toks.len() {
        return Err(SemanticsError::illegal_argument(
            "Mismatched parentheses detected. Please check the expression",
        ));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, vars: &[(&str, f64)]) -> Result<f64, SemanticsError> {
        parse(src)?.eval(&|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    #[test]
    fn precedence_like_exp4j() {
        assert_eq!(eval("1 + 2 * 3", &[]), Ok(7.0));
        assert_eq!(eval("(1 + 2) * 3", &[]), Ok(9.0));
        assert_eq!(eval("-2^2", &[]), Ok(-4.0));
        assert_eq!(eval("2^3^2", &[]), Ok(512.0));
        assert_eq!(eval("10 - 4 - 3", &[]), Ok(3.0));
        assert_eq!(eval("7 % 4", &[]), Ok(3.0));
        assert_eq!(eval("2pi", &[]), Ok(2.0 * std::f64::consts::PI));
    }

    #[test]
    fn variables_and_functions() {
        // Math.feature: g.V().as("a").out("knows").as("b").math("a + b").by("age")
        assert_eq!(eval("a + b", &[("a", 29.0), ("b", 27.0)]), Ok(56.0));
        assert_eq!(eval("_ + x", &[("_", 29.0), ("x", 100.0)]), Ok(129.0));
        assert_eq!(eval("sin(_)", &[("_", 0.0)]), Ok(0.0));
        assert_eq!(eval("abs(-3) + sqrt(16) + floor(2.7)", &[]), Ok(9.0));
        let e = parse("a + b * a - _").unwrap();
        assert_eq!(e.variables(), vec!["a".to_string(), "b".into(), "_".into()]);
        assert!(eval("a + 1", &[]).is_err());
        assert_eq!(eval("1 / 0", &[]).unwrap_err().message, "Division by zero!");
        assert!(parse("(1 + 2").is_err());
        assert!(parse("1 + ").is_err());
        assert!(parse("").is_err());
    }
}
