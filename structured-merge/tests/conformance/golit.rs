//! Reads the Go composite literals structured-merge-diff writes its test tables in
//! (`TestCase{Ops: []Operation{Apply{...}}, Managed: ...}`, `_NS(_P("a", _KBF("k", 1)))`)
//! into a small expression tree, so the upstream files are read as data, unmodified.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    Ident(String),
    Str(String),
    Number(String),
    Punct(char),
}

/// A parsed Go expression, as far as the test tables use them.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Str(String),
    Number(String),
    /// A possibly qualified name (`merge.Conflicts`, `true`, `nil`).
    Name(String),
    Call(String, Vec<Expr>),
    /// `Type{elements}`; the type is empty for an elided type (`{...}` inside a slice).
    Composite(String, Vec<Element>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    pub key: Option<Expr>,
    pub value: Expr,
}

#[derive(Debug)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn tokenize(source: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '`' {
            let start = i + 1;
            i = start;
            while i < chars.len() && chars[i] != '`' {
                i += 1;
            }
            tokens.push(Token::Str(chars[start..i].iter().collect()));
            i += 1;
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                    text.push(match chars.get(i) {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some(other) => *other,
                        None => return Err(ParseError("unterminated string".into())),
                    });
                } else {
                    text.push(chars[i]);
                }
                i += 1;
            }
            tokens.push(Token::Str(text));
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    Ok(tokens)
}

/// A cursor over tokens that parses expressions.
pub struct Parser<'t> {
    tokens: &'t [Token],
    pub at: usize,
}

impl<'t> Parser<'t> {
    pub fn new(tokens: &'t [Token], at: usize) -> Self {
        Self { tokens, at }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn punct(&self, c: char) -> bool {
        self.peek() == Some(&Token::Punct(c))
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        if self.punct(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(ParseError(format!(
                "expected {c:?} at token {}, found {:?}",
                self.at,
                self.peek()
            )))
        }
    }

    /// A type as written before `{` (`[]Operation`, `map[string]TestCase`, `merge.Conflicts`).
    fn type_name(&mut self) -> Result<String, ParseError> {
        let mut name = String::new();
        loop {
            match self.peek() {
                Some(Token::Punct(c @ ('[' | ']' | '*' | '.'))) => {
                    name.push(*c);
                    self.at += 1;
                }
                Some(Token::Ident(ident)) => {
                    name.push_str(ident);
                    self.at += 1;
                    if !(self.punct('.') || self.punct('[') || self.punct(']')) {
                        break;
                    }
                }
                _ => break,
            }
        }
        Ok(name)
    }

    pub fn expr(&mut self) -> Result<Expr, ParseError> {
        match self.peek().cloned() {
            Some(Token::Str(text)) => {
                self.at += 1;
                Ok(Expr::Str(text))
            }
            Some(Token::Number(text)) => {
                self.at += 1;
                Ok(Expr::Number(text))
            }
            Some(Token::Punct('{')) => Ok(Expr::Composite(String::new(), self.elements()?)),
            Some(Token::Punct('&')) => {
                self.at += 1;
                self.expr()
            }
            Some(Token::Punct('[') | Token::Ident(_)) => {
                let name = self.type_name()?;
                if self.punct('{') {
                    return Ok(Expr::Composite(name, self.elements()?));
                }
                if self.punct('(') {
                    self.at += 1;
                    let mut args = Vec::new();
                    while !self.punct(')') {
                        args.push(self.expr()?);
                        if self.punct(',') {
                            self.at += 1;
                        }
                    }
                    self.at += 1;
                    return Ok(Expr::Call(name, args));
                }
                Ok(Expr::Name(name))
            }
            other => Err(ParseError(format!(
                "unexpected {other:?} at token {}",
                self.at
            ))),
        }
    }

    fn elements(&mut self) -> Result<Vec<Element>, ParseError> {
        self.expect('{')?;
        let mut elements = Vec::new();
        while !self.punct('}') {
            let first = self.expr()?;
            let element = if self.punct(':') {
                self.at += 1;
                Element {
                    key: Some(first),
                    value: self.expr()?,
                }
            } else {
                Element {
                    key: None,
                    value: first,
                }
            };
            elements.push(element);
            if self.punct(',') {
                self.at += 1;
            } else if !self.punct('}') {
                return Err(ParseError(format!(
                    "expected ',' or '}}' at token {}, found {:?}",
                    self.at,
                    self.peek()
                )));
            }
        }
        self.at += 1;
        Ok(elements)
    }
}

impl Expr {
    /// The value of a keyed element of a composite literal.
    pub fn field(&self, name: &str) -> Option<&Expr> {
        let Expr::Composite(_, elements) = self else {
            return None;
        };
        elements.iter().find_map(|e| match &e.key {
            Some(Expr::Name(key)) if key == name => Some(&e.value),
            _ => None,
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Expr::Str(text) => Some(text),
            _ => None,
        }
    }
}
