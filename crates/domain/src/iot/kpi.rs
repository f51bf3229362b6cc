//! KPIs of a scenario pack: a small arithmetic formula over named counters,
//! e.g. `100 * recovered / reported`, grouped by dimensions such as station and day.
//!
//! The formula is data so a city can change a KPI without a release; it is
//! parsed once and validated against the counters the pack declares.

use crate::{Invalid, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A KPI definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiDef {
    pub id: String,
    pub name: String,
    /// Arithmetic over counter names: `+ - * /`, parentheses, numbers.
    pub formula: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Dimensions the counters are grouped by, e.g. `["station", "day"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per: Vec<String>,
}

impl KpiDef {
    /// Parses the formula and checks every name is one of `counters`.
    pub fn validate(&self, counters: &[String]) -> Result<Expr, ValidationError> {
        let expr = Expr::parse(&self.formula).map_err(|e| e.at("formula"))?;
        let mut errors = ValidationError::default();
        for name in expr.names() {
            if !counters.iter().any(|c| c == name) {
                errors.push(Invalid::new(
                    "formula",
                    format!(
                        "KPI {} uses counter {name:?}, which the pack does not declare (declared: {counters:?})",
                        self.id
                    ),
                ));
            }
        }
        errors.into_result().map(|()| expr)
    }

    /// The KPI for one group of counters; `None` when a divisor is zero (no data).
    pub fn evaluate(&self, counters: &BTreeMap<String, f64>) -> Result<Option<f64>, Invalid> {
        Expr::parse(&self.formula)?.evaluate(counters)
    }
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Counter(String),
    Binary(Box<Expr>, Op, Box<Expr>),
    Negate(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, Invalid> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, pos: 0 };
        let e = p.sum()?;
        if p.pos != p.tokens.len() {
            return Err(Invalid::new(
                "",
                format!(
                    "unexpected {:?} at token {} of {text:?}",
                    p.tokens[p.pos],
                    p.pos + 1
                ),
            ));
        }
        Ok(e)
    }

    /// The counter names the formula reads.
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Number(_) => {}
            Expr::Counter(n) => out.push(n),
            Expr::Binary(a, _, b) => {
                a.collect(out);
                b.collect(out);
            }
            Expr::Negate(a) => a.collect(out),
        }
    }

    /// Evaluates over counters; a missing counter counts as 0 (nothing
    /// happened), a zero divisor gives `None` (the KPI is undefined).
    pub fn evaluate(&self, counters: &BTreeMap<String, f64>) -> Result<Option<f64>, Invalid> {
        Ok(match self {
            Expr::Number(x) => Some(*x),
            Expr::Counter(n) => Some(counters.get(n).copied().unwrap_or(0.0)),
            Expr::Negate(a) => a.evaluate(counters)?.map(|x| -x),
            Expr::Binary(a, op, b) => {
                let (Some(x), Some(y)) = (a.evaluate(counters)?, b.evaluate(counters)?) else {
                    return Ok(None);
                };
                match op {
                    Op::Add => Some(x + y),
                    Op::Sub => Some(x - y),
                    Op::Mul => Some(x * y),
                    Op::Div if y == 0.0 => None,
                    Op::Div => Some(x / y),
                }
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Name(String),
    Sym(char),
}

fn tokenize(text: &str) -> Result<Vec<Token>, Invalid> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            let n = s.parse::<f64>().map_err(|_| {
                Invalid::new("", format!("{s:?} at column {} is not a number", start + 1))
            })?;
            out.push(Token::Num(n));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Name(chars[start..i].iter().collect()));
        } else if "+-*/()".contains(c) {
            out.push(Token::Sym(c));
            i += 1;
        } else {
            return Err(Invalid::new(
                "",
                format!(
                    "character {c:?} at column {} is not allowed; use counters, numbers, + - * / and ( )",
                    i + 1
                ),
            ));
        }
    }
    if out.is_empty() {
        return Err(Invalid::new("", "the formula is empty"));
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_sym(&self) -> Option<char> {
        match self.tokens.get(self.pos) {
            Some(Token::Sym(c)) => Some(*c),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<Expr, Invalid> {
        let mut left = self.product()?;
        while let Some(c @ ('+' | '-')) = self.peek_sym() {
            self.pos += 1;
            let right = self.product()?;
            let op = if c == '+' { Op::Add } else { Op::Sub };
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, Invalid> {
        let mut left = self.unary()?;
        while let Some(c @ ('*' | '/')) = self.peek_sym() {
            self.pos += 1;
            let right = self.unary()?;
            let op = if c == '*' { Op::Mul } else { Op::Div };
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, Invalid> {
        if self.peek_sym() == Some('-') {
            self.pos += 1;
            return Ok(Expr::Negate(Box::new(self.unary()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, Invalid> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match token {
            Some(Token::Num(n)) => Ok(Expr::Number(n)),
            Some(Token::Name(n)) => Ok(Expr::Counter(n)),
            Some(Token::Sym('(')) => {
                let e = self.sum()?;
                if self.peek_sym() != Some(')') {
                    return Err(Invalid::new("", "a '(' is not closed"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(other) => Err(Invalid::new(
                "",
                format!("expected a number, a counter or '(' but found {other:?}"),
            )),
            None => Err(Invalid::new("", "the formula ends too early")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn evaluates_with_precedence_and_parentheses() {
        let c = counters(&[("a", 3.0), ("b", 4.0), ("c", 2.0)]);
        let cases = [
            ("a + b * c", Some(11.0)),
            ("(a + b) * c", Some(14.0)),
            ("100 * a / b", Some(75.0)),
            ("-a + b", Some(1.0)),
            ("a / (b - 4)", None),
            ("missing + 1", Some(1.0)),
        ];
        for (f, want) in cases {
            assert_eq!(Expr::parse(f).unwrap().evaluate(&c).unwrap(), want, "{f}");
        }
    }

    #[test]
    fn bad_formulas_say_where() {
        for (f, needle) in [
            ("a +", "ends too early"),
            ("(a + b", "not closed"),
            ("a % b", "column 3"),
            ("a b", "unexpected"),
            ("", "empty"),
            ("1..2", "not a number"),
        ] {
            let e = Expr::parse(f).unwrap_err();
            assert!(e.message.contains(needle), "{f}: {}", e.message);
        }
    }

    #[test]
    fn validate_checks_counter_names() {
        let k = KpiDef {
            id: "solved".into(),
            name: "破案率".into(),
            formula: "100 * solved / reportd".into(),
            unit: Some("%".into()),
            per: vec![],
        };
        let declared = vec!["solved".to_string(), "reported".to_string()];
        let e = k.validate(&declared).unwrap_err();
        assert!(e.problems[0].message.contains("\"reportd\""));
    }
}
