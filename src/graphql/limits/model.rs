//! The shape of the schema the cost walk needs: for every field of every object and interface,
//! the named type it returns, whether it is a list, and which argument sizes that list. Read
//! from the schema's own SDL, so a new field is costed the day it is added.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, FieldDefinition, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::Value;

use crate::graphql::paging::DEFAULT_PAGE;

/// Numeric arguments that size a list: Relay `first`, the activity lists' `first`, the metric
/// series' `samples` (the federation `@listSize(slicingArguments:)` of each field).
const COUNT_ARGS: &[&str] = &["first", "samples"];
/// List arguments whose length sizes the result: `_entities(representations:)`.
const LENGTH_ARGS: &[&str] = &["representations"];

/// How a field's list size is read from its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Slicing {
    /// A number argument, with the value used when the request leaves it out.
    Count { arg: String, default: u64 },
    /// A list argument; the list's length.
    Length { arg: String },
}

/// One field as the walk sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldShape {
    /// The named type returned (list and non-null wrappers removed).
    pub ty: String,
    /// Whether the field returns a list.
    pub list: bool,
    /// The argument that sizes the list (on a list field), or the lists of the object it
    /// returns (on a Relay connection field: `first` sizes `nodes` and `edges`).
    pub slicing: Option<Slicing>,
}

/// Fields by type, and the root types.
#[derive(Debug, Default)]
pub(super) struct Shapes {
    types: HashMap<String, HashMap<String, FieldShape>>,
    pub query: String,
    pub mutation: Option<String>,
}

impl Shapes {
    /// Reads `sdl`; a document the parser refuses yields an empty model (every field then
    /// counts 1, depth, aliases and fragments are still bounded).
    pub fn from_sdl(sdl: &str) -> Shapes {
        let mut shapes = Shapes {
            query: "Query".into(),
            ..Shapes::default()
        };
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            return shapes;
        };
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => {
                    if let Some(q) = s.node.query {
                        shapes.query = q.node.to_string();
                    }
                    shapes.mutation = s.node.mutation.map(|m| m.node.to_string());
                }
                TypeSystemDefinition::Type(t) => {
                    let fields = match &t.node.kind {
                        TypeKind::Object(o) => &o.fields,
                        TypeKind::Interface(i) => &i.fields,
                        _ => continue,
                    };
                    let entry = shapes
                        .types
                        .entry(t.node.name.node.to_string())
                        .or_default();
                    for f in fields {
                        entry.insert(f.node.name.node.to_string(), shape(&f.node));
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        if shapes.mutation.is_none() && shapes.types.contains_key("Mutation") {
            shapes.mutation = Some("Mutation".into());
        }
        shapes
    }

    /// The field `name` of type `ty`, if the schema has it.
    pub fn field(&self, ty: &str, name: &str) -> Option<&FieldShape> {
        self.types.get(ty)?.get(name)
    }
}

fn shape(f: &FieldDefinition) -> FieldShape {
    let (ty, list) = named(&f.ty.node);
    let slicing = f.arguments.iter().find_map(|a| {
        let arg = a.node.name.node.as_str();
        if COUNT_ARGS.contains(&arg) {
            let default = match a.node.default_value.as_ref().map(|v| &v.node) {
                Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
                _ => DEFAULT_PAGE as u64,
            };
            Some(Slicing::Count {
                arg: arg.to_string(),
                default,
            })
        } else if LENGTH_ARGS.contains(&arg) {
            Some(Slicing::Length {
                arg: arg.to_string(),
            })
        } else {
            None
        }
    });
    FieldShape { ty, list, slicing }
}

fn named(t: &Type) -> (String, bool) {
    match &t.base {
        BaseType::Named(n) => (n.to_string(), false),
        BaseType::List(inner) => (named(inner).0, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_connections_and_defaults_come_from_the_sdl() {
        let s = Shapes::from_sdl(
            "schema { query: Q mutation: M }
             type Q { vms(first: Int, after: String): Conn! history(first: Int! = 100): [E!]!
                      _entities(representations: [_Any!]!): [_Entity]! name: String }
             type Conn { nodes: [E!]! totalCount: Int! }
             type M { x: Int }
             type E { id: ID! }",
        );
        assert_eq!(s.query, "Q");
        assert_eq!(s.mutation.as_deref(), Some("M"));
        let vms = s.field("Q", "vms").expect("vms");
        assert!(!vms.list);
        assert_eq!(
            vms.slicing,
            Some(Slicing::Count {
                arg: "first".into(),
                default: 50
            })
        );
        let h = s.field("Q", "history").expect("history");
        assert!(h.list && h.ty == "E");
        assert_eq!(
            h.slicing,
            Some(Slicing::Count {
                arg: "first".into(),
                default: 100
            })
        );
        assert_eq!(
            s.field("Q", "_entities").and_then(|f| f.slicing.clone()),
            Some(Slicing::Length {
                arg: "representations".into()
            })
        );
        assert!(s.field("Conn", "nodes").is_some_and(|f| f.list));
        assert!(s.field("Q", "nope").is_none());
    }
}
