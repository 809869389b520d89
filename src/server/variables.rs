//! Variable coercion before execution (GraphQL's `CoerceVariableValues`), for what the library
//! leaves to resolution: it runs an operation whose `Int!` variable is `null` (the argument's
//! default is used instead) and reports an `Int` variable outside 32 bits as a field error with
//! `data: null`. Both are request errors in the GraphQL spec: no `data`, and with
//! `application/graphql-response+json` a 400 (GraphQL over HTTP).
//!
//! Only what can be decided without the schema is checked: nullability, lists and the built-in
//! scalars. Enums, input objects and custom scalars stay with the library's validation.

use async_graphql::parser::types::{BaseType, DocumentOperations, ExecutableDocument, Type};
use async_graphql::{Name, Value, Variables};

/// The first variable of the operation to run that does not coerce to its declared type, as a
/// message. `None` when all coerce or the operation cannot be chosen (the library reports that).
pub fn coercion_error(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Option<String> {
    let op = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    for def in &op.node.variable_definitions {
        let def = &def.node;
        let ty = &def.var_type.node;
        let name = &def.name.node;
        match variables.get(name) {
            None if def.default_value.is_none() && !ty.nullable => {
                return Some(format!(
                    "Variable \"${name}\" of required type \"{ty}\" was not provided."
                ));
            }
            None => {}
            Some(value) => {
                if let Err(why) = coerces(value, ty) {
                    return Some(format!(
                        "Variable \"${name}\" got invalid value {value}; {why}"
                    ));
                }
            }
        }
    }
    None
}

fn coerces(value: &Value, ty: &Type) -> Result<(), String> {
    if matches!(value, Value::Null) {
        return if ty.nullable {
            Ok(())
        } else {
            Err(format!(
                "expected non-nullable type \"{ty}\" not to be null."
            ))
        };
    }
    match &ty.base {
        // A single value is coerced to a list of one (input coercion of lists).
        BaseType::List(item) => match value {
            Value::List(items) => items.iter().try_for_each(|v| coerces(v, item)),
            other => coerces(other, item),
        },
        BaseType::Named(name) => scalar(value, name),
    }
}

fn scalar(value: &Value, name: &Name) -> Result<(), String> {
    let ok = match name.as_str() {
        // JSON has one number type: 5.0 is an integer, as in the reference implementation.
        "Int" => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .is_some_and(|i| i32::try_from(i).is_ok()),
            _ => false,
        },
        "Float" => matches!(value, Value::Number(_)),
        "String" => matches!(value, Value::String(_)),
        "Boolean" => matches!(value, Value::Boolean(_)),
        "ID" => match value {
            Value::String(_) => true,
            Value::Number(n) => n.is_i64() || n.is_u64(),
            _ => false,
        },
        // Enums, input objects and custom scalars: the library's validation.
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{name} cannot represent this value."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(query: &str, op: Option<&str>, vars: serde_json::Value) -> Option<String> {
        let doc = async_graphql::parser::parse_query(query).expect("parses");
        coercion_error(&doc, op, &Variables::from_json(vars))
    }

    #[test]
    fn variables_that_do_not_coerce_are_found() {
        let q = "query($n: Int!, $s: [String!], $id: ID) { __typename }";
        assert_eq!(check(q, None, json!({"n": 5})), None);
        assert_eq!(check(q, None, json!({"n": 5.0})), None);
        assert_eq!(
            check(q, None, json!({"n": 5, "s": "one", "id": 7})),
            None,
            "a single value coerces to a list; an integer is an ID"
        );
        for bad in [
            json!({}),
            json!({"n": null}),
            json!({"n": 2_147_483_648u64}),
            json!({"n": 1.5}),
            json!({"n": -3e10}),
            json!({"n": "5"}),
            json!({"n": 1, "s": [null]}),
            json!({"n": 1, "s": [1]}),
            json!({"n": 1, "id": true}),
        ] {
            assert!(check(q, None, bad.clone()).is_some(), "{bad}");
        }
        // A default stands in for a missing value, not for null.
        let q = "query($n: Int! = 3) { __typename }";
        assert_eq!(check(q, None, json!({})), None);
        assert!(check(q, None, json!({"n": null})).is_some());
        // The chosen operation's variables only; an ambiguous choice is the library's.
        let q = "query A($n: Int!) { __typename } query B { __typename }";
        assert_eq!(check(q, Some("B"), json!({})), None);
        assert!(check(q, Some("A"), json!({})).is_some());
        assert_eq!(check(q, None, json!({})), None);
        // Types the schema defines are left to validation.
        assert_eq!(
            check("query($f: VmFilter) { __typename }", None, json!({"f": 1})),
            None
        );
    }
}
