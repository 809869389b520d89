//! The shape of the schema the cost walk needs: for every field of every object and interface,
//! the named type it returns, whether it is a list, which argument sizes that list, and where
//! its arguments may hold an `Int` (to refuse an `Int` literal outside 32 bits). Read from the
//! schema's own SDL, so a new field is costed the day it is added.

use std::collections::{HashMap, HashSet};

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

/// Where an input value may hold an `Int`: the argument and input field types that can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IntSlot {
    /// `Int` itself.
    Int,
    /// A list of such values.
    List(Box<IntSlot>),
    /// An input object, whose fields are looked up by name.
    Object(String),
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
    /// Arguments that may hold an `Int`, by name.
    pub ints: Vec<(String, IntSlot)>,
}

/// Fields by type, and the root types.
#[derive(Debug, Default)]
pub(super) struct Shapes {
    types: HashMap<String, HashMap<String, FieldShape>>,
    /// Input object fields that may hold an `Int`, by input type and field.
    inputs: HashMap<String, Vec<(String, IntSlot)>>,
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
        let input_names: HashSet<String> = doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                TypeSystemDefinition::Type(t)
                    if matches!(t.node.kind, TypeKind::InputObject(_)) =>
                {
                    Some(t.node.name.node.to_string())
                }
                _ => None,
            })
            .collect();
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
                        TypeKind::InputObject(o) => {
                            let ints = o.fields.iter().filter_map(|f| {
                                let slot = int_slot(&f.node.ty.node, &input_names)?;
                                Some((f.node.name.node.to_string(), slot))
                            });
                            shapes
                                .inputs
                                .insert(t.node.name.node.to_string(), ints.collect());
                            continue;
                        }
                        _ => continue,
                    };
                    let entry = shapes
                        .types
                        .entry(t.node.name.node.to_string())
                        .or_default();
                    for f in fields {
                        entry.insert(f.node.name.node.to_string(), shape(&f.node, &input_names));
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

    /// The fields of input object `ty` that may hold an `Int`.
    pub fn input(&self, ty: &str) -> &[(String, IntSlot)] {
        self.inputs.get(ty).map_or(&[], Vec::as_slice)
    }
}

/// Where a value of type `t` may hold an `Int`; `None` when it cannot. An input object counts
/// whatever its fields, which are looked up when a value is checked.
fn int_slot(t: &Type, inputs: &HashSet<String>) -> Option<IntSlot> {
    match &t.base {
        BaseType::Named(n) if n.as_str() == "Int" => Some(IntSlot::Int),
        BaseType::Named(n) if inputs.contains(n.as_str()) => Some(IntSlot::Object(n.to_string())),
        BaseType::Named(_) => None,
        BaseType::List(inner) => Some(IntSlot::List(Box::new(int_slot(inner, inputs)?))),
    }
}

fn shape(f: &FieldDefinition, inputs: &HashSet<String>) -> FieldShape {
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
    let ints = f
        .arguments
        .iter()
        .filter_map(|a| {
            let slot = int_slot(&a.node.ty.node, inputs)?;
            Some((a.node.name.node.to_string(), slot))
        })
        .collect();
    FieldShape {
        ty,
        list,
        slicing,
        ints,
    }
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
        assert_eq!(vms.ints, vec![("first".to_string(), IntSlot::Int)]);
    }

    #[test]
    fn int_arguments_and_input_fields_are_found_through_lists() {
        let s = Shapes::from_sdl(
            "type Query { f(ids: [[Int!]], by: In, name: String): Int }
             input In { days: Int, name: String, inner: [In!] }",
        );
        let f = s.field("Query", "f").expect("f");
        assert_eq!(
            f.ints,
            vec![
                (
                    "ids".to_string(),
                    IntSlot::List(Box::new(IntSlot::List(Box::new(IntSlot::Int))))
                ),
                ("by".to_string(), IntSlot::Object("In".into())),
            ]
        );
        assert_eq!(
            s.input("In"),
            [
                ("days".to_string(), IntSlot::Int),
                (
                    "inner".to_string(),
                    IntSlot::List(Box::new(IntSlot::Object("In".into())))
                ),
            ]
        );
        assert!(s.input("Nope").is_empty());
    }
}
