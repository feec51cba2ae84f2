//! Finds structured-merge-diff's test cases in its Go test files: the `TestCase` tables of
//! `merge/*_test.go` with the schema each table is run against, and the object/field-set
//! pairs of `typed/toset_test.go`.

use crate::golit::{Element, Expr, Parser, Token, tokenize};
use serde_json::{Value, json};
use structured_merge::{Conflict, Path, PathElement, Set};

/// The schema a table runs against.
#[derive(Clone, Debug)]
pub enum SchemaSource {
    /// `DeducedParser`: every value typed by its own shape.
    Deduced,
    /// A schema in structured-merge-diff's YAML form; the root type is `root`, or the
    /// operation's API version where the parser looks types up by version.
    Yaml { text: String, root: Option<String> },
}

/// One upstream case.
#[derive(Debug)]
pub struct Case {
    /// `merge/leaf_test.go TestUpdateLeaf/apply_twice`.
    pub id: String,
    pub schema: Result<SchemaSource, String>,
    /// The table runs it expecting an error.
    pub expect_error: bool,
    pub body: Expr,
}

fn is(tokens: &[Token], at: usize, expected: &[Token]) -> bool {
    tokens.get(at..at + expected.len()) == Some(expected)
}

fn ident(name: &str) -> Token {
    Token::Ident(name.to_owned())
}

/// The parser variables a file defines: name → schema.
pub fn parsers(tokens: &[Token]) -> Vec<(String, SchemaSource)> {
    let mut found = Vec::new();
    for at in 0..tokens.len() {
        if !is(tokens, at, &[ident("NewParser"), Token::Punct('(')]) {
            continue;
        }
        let Some(Token::Str(text)) = tokens.get(at + 2) else {
            continue;
        };
        let name = (0..at)
            .rev()
            .find_map(|i| match (&tokens[i], tokens.get(i + 1)) {
                (Token::Ident(var), Some(Token::Ident(name))) if var == "var" => Some(name.clone()),
                _ => None,
            });
        let end = (at + 3..tokens.len())
            .find(|&i| tokens[i] == ident("NewParser") || tokens[i] == ident("func") && matches!(tokens.get(i + 1), Some(Token::Ident(n)) if n.starts_with("Test")))
            .unwrap_or(tokens.len());
        let root = (at + 3..end).find_map(|i| match tokens.get(i..i + 3) {
            Some([Token::Ident(t), Token::Punct('('), Token::Str(root)]) if t == "Type" => {
                Some(root.clone())
            }
            _ => None,
        });
        if let Some(name) = name {
            found.push((
                name,
                SchemaSource::Yaml {
                    text: text.clone(),
                    root,
                },
            ));
        }
    }
    found
}

/// Every `TestCase` table (or single case) of a merge test file.
/// `parsers`: the parser variables of every file of the package (tables use each other's).
pub fn merge_cases(
    file: &str,
    source: &str,
    parsers: &[(String, SchemaSource)],
) -> Result<Vec<Case>, String> {
    let tokens = tokenize(source).map_err(|e| e.to_string())?;
    let mut cases = Vec::new();
    let mut function = String::new();
    let mut at = 0;
    while at < tokens.len() {
        if let (Token::Ident(f), Some(Token::Ident(name))) = (&tokens[at], tokens.get(at + 1))
            && f == "func"
        {
            function = name.clone();
        }
        let table = is(
            &tokens,
            at,
            &[
                ident("map"),
                Token::Punct('['),
                ident("string"),
                Token::Punct(']'),
                ident("TestCase"),
                Token::Punct('{'),
            ],
        );
        let single = is(
            &tokens,
            at,
            &[
                Token::Punct(':'),
                Token::Punct('='),
                ident("TestCase"),
                Token::Punct('{'),
            ],
        );
        if !table && !single {
            at += 1;
            continue;
        }
        let mut parser = Parser::new(&tokens, if single { at + 2 } else { at });
        let literal = parser
            .expr()
            .map_err(|e| format!("{file} {function}: {e}"))?;
        at = parser.at;
        let (schema, expect_error) = table_runner(&tokens, at, parsers);
        let entries: Vec<(String, Expr)> = match literal {
            Expr::Composite(_, elements) if table => elements
                .into_iter()
                .filter_map(|Element { key, value }| Some((key?.as_str()?.to_owned(), value)))
                .collect(),
            body => vec![(String::new(), body)],
        };
        for (name, body) in entries {
            let id = if name.is_empty() {
                format!("{file} {function}")
            } else {
                format!("{file} {function}/{name}")
            };
            cases.push(Case {
                id,
                schema: schema.clone(),
                expect_error,
                body,
            });
        }
    }
    Ok(cases)
}

/// How the code after a table runs it: `test.Test(parser)` (and whether it expects an
/// error), or `TestWithConverter(parser, converter)`.
fn table_runner(
    tokens: &[Token],
    from: usize,
    parsers: &[(String, SchemaSource)],
) -> (Result<SchemaSource, String>, bool) {
    for at in from..tokens.len() {
        let with_converter = tokens[at] == ident("TestWithConverter");
        if !(tokens[at] == ident("Test") || with_converter)
            || tokens.get(at + 1) != Some(&Token::Punct('('))
        {
            continue;
        }
        let Some(Token::Ident(name)) = tokens.get(at + 2) else {
            continue;
        };
        if with_converter {
            return (
                Err("runs with a custom version converter (conversion between API versions is not emulated)".into()),
                false,
            );
        }
        let expect_error = is(
            tokens,
            at + 3,
            &[
                Token::Punct(')'),
                Token::Punct('='),
                Token::Punct('='),
                ident("nil"),
            ],
        );
        if name == "DeducedParser" {
            return (Ok(SchemaSource::Deduced), expect_error);
        }
        return match parsers.iter().find(|(n, _)| n == name) {
            Some((_, schema)) => (Ok(schema.clone()), expect_error),
            None => (
                Err(format!("parser {name} is not defined in this file")),
                false,
            ),
        };
    }
    (Err("no runner found after the table".into()), false)
}

/// A JSON value from a Go literal (`"a"`, `1`, `true`).
pub fn json_value(expr: &Expr) -> Result<Value, String> {
    match expr {
        Expr::Str(text) => Ok(json!(text)),
        Expr::Number(text) => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .map_err(|_| format!("bad number {text}")),
        Expr::Name(name) if name == "true" => Ok(json!(true)),
        Expr::Name(name) if name == "false" => Ok(json!(false)),
        Expr::Name(name) if name == "nil" => Ok(Value::Null),
        other => Err(format!("not a value: {other:?}")),
    }
}

fn call<'e>(expr: &'e Expr, names: &[&str]) -> Result<&'e [Expr], String> {
    match expr {
        Expr::Call(name, args) if names.contains(&name.as_str()) => Ok(args),
        other => Err(format!("expected a call of {names:?}, found {other:?}")),
    }
}

pub fn path(expr: &Expr) -> Result<Path, String> {
    let args = call(expr, &["_P", "fieldpath.MakePathOrDie"])?;
    args.iter()
        .map(|arg| match arg {
            Expr::Str(name) => Ok(PathElement::Field(name.clone())),
            Expr::Number(index) => index
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("bad index {index}")),
            Expr::Call(name, values) if name == "_KBF" || name == "fieldpath.KeyByFields" => {
                let mut fields = Vec::new();
                for pair in values.chunks(2) {
                    let [Expr::Str(key), value] = pair else {
                        return Err(format!("bad key fields {values:?}"));
                    };
                    fields.push((key.as_str(), json_value(value)?));
                }
                Ok(PathElement::key(&fields))
            }
            Expr::Call(name, values) if name == "_V" || name == "value.NewValueInterface" => {
                let [value] = values.as_slice() else {
                    return Err(format!("bad value element {values:?}"));
                };
                Ok(PathElement::value(&json_value(value)?))
            }
            other => Err(format!("unknown path element {other:?}")),
        })
        .collect()
}

pub fn set(expr: &Expr) -> Result<Set, String> {
    let args = call(expr, &["_NS", "fieldpath.NewSet"])?;
    Ok(Set::of(
        args.iter().map(path).collect::<Result<Vec<_>, _>>()?,
    ))
}

pub fn conflicts(expr: &Expr) -> Result<Vec<Conflict>, String> {
    let Expr::Composite(_, elements) = expr else {
        return Err(format!("conflicts: {expr:?}"));
    };
    let mut out = Vec::new();
    for element in elements {
        let manager = element
            .value
            .field("Manager")
            .and_then(Expr::as_str)
            .ok_or("conflict without a manager")?;
        let at = element
            .value
            .field("Path")
            .ok_or("conflict without a path")?;
        out.push(Conflict {
            manager: manager.to_owned(),
            path: path(at)?,
        });
    }
    out.sort();
    Ok(out)
}

/// One object → field set pair of `typed/toset_test.go`, with its schema and root type.
#[derive(Debug)]
pub struct FieldSetCase {
    pub id: String,
    pub schema: String,
    pub root: String,
    pub object: String,
    pub set: Result<Set, String>,
}

pub fn field_set_cases(source: &str) -> Result<Vec<FieldSetCase>, String> {
    let tokens = tokenize(source).map_err(|e| e.to_string())?;
    let start = (0..tokens.len())
        .find(|&i| {
            tokens[i] == ident("fieldsetCases") && tokens.get(i + 1) == Some(&Token::Punct('='))
        })
        .ok_or("no fieldsetCases table")?;
    let table = Parser::new(&tokens, start + 2)
        .expr()
        .map_err(|e| e.to_string())?;
    let Expr::Composite(_, tables) = table else {
        return Err("fieldsetCases is not a table".into());
    };
    let mut out = Vec::new();
    for table in tables {
        let value = &table.value;
        let name = value.field("name").and_then(Expr::as_str).unwrap_or("?");
        let root = value
            .field("rootTypeName")
            .and_then(Expr::as_str)
            .unwrap_or_default();
        let schema = value
            .field("schema")
            .and_then(Expr::as_str)
            .unwrap_or_default();
        let Some(Expr::Composite(_, pairs)) = value.field("pairs") else {
            continue;
        };
        for (index, pair) in pairs.iter().enumerate() {
            let Expr::Composite(_, parts) = &pair.value else {
                continue;
            };
            let [object, expected] = parts.as_slice() else {
                continue;
            };
            out.push(FieldSetCase {
                id: format!("typed/toset_test.go {name}/{index}"),
                schema: schema.to_owned(),
                root: root.to_owned(),
                object: object.value.as_str().unwrap_or_default().to_owned(),
                set: set(&expected.value),
            });
        }
    }
    Ok(out)
}
