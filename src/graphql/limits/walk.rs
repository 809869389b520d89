//! One pass over a parsed document that measures it as the library's validation and execution
//! would see it with every fragment spread expanded, without expanding anything: each fragment
//! is measured once per list size it is spread under and remembered, so a chain of fragments
//! that doubles per level costs one visit per fragment, not 2^levels.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::{Positioned, Value as ConstValue};

use super::model::{IntSlot, Shapes, Slicing};
use super::Refusal;
use crate::graphql::paging::MAX_PAGE;

/// A list field that is neither sliced by an argument nor under a connection counts this many
/// items (tags, alerts, guest filesystems, IP addresses: a handful each in practice).
pub const ASSUMED_LIST_SIZE: u64 = 10;

/// Fields that read vCenter once per object when their flag argument is true (the older
/// events of `events(includeOlder: true)`): `(type, field, argument)`.
const PER_OBJECT_READS: &[(&str, &str, &str)] = &[("VsphereActivity", "events", "includeOlder")];

/// Introspection fields whose nesting graphql-js' `MaxIntrospectionDepthRule` counts.
const INTROSPECTION_LISTS: &[&str] = &["fields", "interfaces", "possibleTypes", "inputFields"];

/// What a selection set adds up to once every spread in it is expanded. Sums saturate, so a
/// document that would overflow a `u64` measures as `u64::MAX` and is refused like any other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Estimated number of values in the response: a field counts 1 plus its selection, times
    /// the size of its list.
    pub cost: u64,
    /// Deepest field nesting (a root field is depth 1; fragments add no depth).
    pub depth: u64,
    /// Aliased fields.
    pub aliases: u64,
    /// Fragment spreads.
    pub spreads: u64,
    /// Deepest nesting of the introspection list fields graphql-js bounds.
    pub introspection: u64,
    /// vCenter calls the request may make on demand, one per object of a
    /// [`PER_OBJECT_READS`] field; what is cached or retained makes fewer.
    pub vcenter_calls: u64,
}

impl Summary {
    fn merge(&mut self, o: Summary) {
        self.cost = self.cost.saturating_add(o.cost);
        self.depth = self.depth.max(o.depth);
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.spreads = self.spreads.saturating_add(o.spreads);
        self.introspection = self.introspection.max(o.introspection);
        self.vcenter_calls = self.vcenter_calls.saturating_add(o.vcenter_calls);
    }
}

/// The walk's state: the document's fragments, the request's variables, what each fragment
/// measured and which fragments are being measured (a cycle).
pub struct Walk<'a> {
    shapes: &'a Shapes,
    fragments: &'a HashMap<
        async_graphql::Name,
        Positioned<async_graphql::parser::types::FragmentDefinition>,
    >,
    variables: &'a HashMap<&'a str, &'a ConstValue>,
    memo: HashMap<(&'a str, Option<u64>), Summary>,
    active: HashSet<&'a str>,
}

impl<'a> Walk<'a> {
    pub fn new(
        shapes: &'a Shapes,
        fragments: &'a HashMap<
            async_graphql::Name,
            Positioned<async_graphql::parser::types::FragmentDefinition>,
        >,
        variables: &'a HashMap<&'a str, &'a ConstValue>,
    ) -> Walk<'a> {
        Walk {
            shapes,
            fragments,
            variables,
            memo: HashMap::new(),
            active: HashSet::new(),
        }
    }

    /// Measures `set` on type `ty` (unknown: `None`); `slice` is the page size a connection
    /// field passed down to the lists of the object it returns.
    ///
    /// # Errors
    /// [`Refusal::FragmentCycle`] when a fragment spreads itself.
    pub fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        ty: Option<&'a str>,
        slice: Option<u64>,
    ) -> Result<Summary, Refusal> {
        let mut sum = Summary::default();
        for item in &set.node.items {
            match &item.node {
                Selection::Field(f) => sum.merge(self.field(&f.node, ty, slice)?),
                Selection::InlineFragment(i) => {
                    let on = i
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str());
                    sum.merge(self.selection_set(&i.node.selection_set, on.or(ty), slice)?);
                }
                Selection::FragmentSpread(s) => {
                    let mut inner = self.fragment(s.node.fragment_name.node.as_str(), slice)?;
                    inner.spreads = inner.spreads.saturating_add(1);
                    sum.merge(inner);
                }
            }
        }
        Ok(sum)
    }

    fn fragment(&mut self, name: &'a str, slice: Option<u64>) -> Result<Summary, Refusal> {
        if let Some(s) = self.memo.get(&(name, slice)) {
            return Ok(*s);
        }
        // An unknown fragment is the library's validation error to report.
        let Some((key, def)) = self.fragments.get_key_value(name) else {
            return Ok(Summary::default());
        };
        let name = key.as_str();
        if !self.active.insert(name) {
            return Err(Refusal::FragmentCycle(name.to_string()));
        }
        let on = def.node.type_condition.node.on.node.as_str();
        let measured = self.selection_set(&def.node.selection_set, Some(on), slice);
        self.active.remove(name);
        let s = measured?;
        self.memo.insert((name, slice), s);
        Ok(s)
    }

    fn field(
        &mut self,
        f: &'a Field,
        parent: Option<&'a str>,
        slice: Option<u64>,
    ) -> Result<Summary, Refusal> {
        let name = f.name.node.as_str();
        let shape = parent.and_then(|t| self.shapes.field(t, name));
        if let Some(s) = shape {
            self.int_literals(f, &s.ints)?;
        }
        let (items, child_slice) = match shape {
            // Unknown here (introspection, `__typename`, or a field validation will refuse):
            // one value per selected field. Introspection output is bounded by the schema's
            // size and by the nesting cap below.
            None => (1, None),
            Some(s) => {
                let own = s.slicing.as_ref().map(|a| self.size(f, a));
                if s.list {
                    (own.or(slice).unwrap_or(ASSUMED_LIST_SIZE), None)
                } else {
                    (1, own)
                }
            }
        };
        let inner = if f.selection_set.node.items.is_empty() {
            Summary::default()
        } else {
            self.selection_set(&f.selection_set, shape.map(|s| s.ty.as_str()), child_slice)?
        };
        // `first: 0` still has its selection validated and planned: count at least one item,
        // so the estimate also bounds the library's own work on the document.
        let items = items.max(1);
        let reads = parent.is_some_and(|p| {
            PER_OBJECT_READS
                .iter()
                .any(|(t, n, arg)| *t == p && *n == name && self.flag(f, arg))
        });
        Ok(Summary {
            cost: items.saturating_mul(inner.cost.saturating_add(1)),
            depth: inner.depth + 1,
            aliases: inner.aliases.saturating_add(u64::from(f.alias.is_some())),
            spreads: inner.spreads,
            introspection: inner.introspection
                + u64::from(shape.is_none() && INTROSPECTION_LISTS.contains(&name)),
            // A read is per object holding the field, not per item of the list it returns.
            vcenter_calls: items
                .saturating_mul(inner.vcenter_calls)
                .saturating_add(u64::from(reads)),
        })
    }

    /// Refuses an `Int` literal outside 32 bits in `f`'s arguments, as GraphQL's "values of
    /// correct type" rule does; the library would take it to resolution and answer a field
    /// error.
    fn int_literals(&self, f: &Field, ints: &[(String, IntSlot)]) -> Result<(), Refusal> {
        for (arg, slot) in ints {
            let given = f.arguments.iter().find(|(n, _)| n.node.as_str() == arg);
            // Variables become null here: they are checked with the other variables.
            let literal = given.and_then(|(_, v)| {
                v.node
                    .clone()
                    .into_const_with(|_| Ok::<_, ()>(ConstValue::Null))
                    .ok()
            });
            if let Some(literal) = literal {
                if let Some(value) = self.out_of_range(&literal, slot) {
                    return Err(Refusal::IntOutOfRange {
                        value,
                        argument: arg.clone(),
                        field: f.name.node.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The first `Int` literal of `value` (at `slot`) outside 32 bits, as written.
    fn out_of_range(&self, value: &ConstValue, slot: &IntSlot) -> Option<String> {
        match (slot, value) {
            (IntSlot::Int, ConstValue::Number(n)) => {
                let fits = n.as_i64().is_some_and(|i| i32::try_from(i).is_ok());
                // A non-integer number is the library's validation error to report.
                (!fits && (n.is_i64() || n.is_u64())).then(|| n.to_string())
            }
            (IntSlot::List(inner), ConstValue::List(items)) => {
                items.iter().find_map(|v| self.out_of_range(v, inner))
            }
            // A single value is coerced to a list of one.
            (IntSlot::List(inner), v) => self.out_of_range(v, inner),
            (IntSlot::Object(ty), ConstValue::Object(fields)) => {
                self.shapes.input(ty).iter().find_map(|(name, slot)| {
                    fields
                        .get(name.as_str())
                        .and_then(|v| self.out_of_range(v, slot))
                })
            }
            _ => None,
        }
    }

    /// Whether `f`'s argument `arg` is `true`; unset or not a boolean is false, the schema's
    /// default for such flags.
    fn flag(&self, f: &Field, arg: &str) -> bool {
        matches!(self.argument(f, arg), Some(ConstValue::Boolean(true)))
    }

    /// `f`'s argument `arg` as given (a literal or a variable); `None` when unset or when a
    /// variable it names is missing.
    fn argument(&self, f: &Field, arg: &str) -> Option<ConstValue> {
        let given = f
            .arguments
            .iter()
            .find(|(n, _)| n.node.as_str() == arg)
            .map(|(_, v)| &v.node)?;
        given
            .clone()
            .into_const_with(|var| {
                self.variables
                    .get(var.as_str())
                    .map(|c| (*c).clone())
                    .ok_or(())
            })
            .ok()
    }

    /// The list size `f` asks for through `slicing`.
    fn size(&self, f: &Field, slicing: &Slicing) -> u64 {
        let arg = match slicing {
            Slicing::Count { arg, .. } | Slicing::Length { arg } => arg.as_str(),
        };
        let value = self.argument(f, arg);
        match (slicing, value) {
            // Out-of-range sizes are refused by the resolver with BAD_USER_INPUT; estimate
            // them at the largest page so that answer, not a cost refusal, reaches the client.
            (Slicing::Count { .. }, Some(ConstValue::Number(n))) => n
                .as_i64()
                .map_or(MAX_PAGE as u64, |n| n.clamp(0, i64::from(MAX_PAGE)) as u64),
            (Slicing::Count { default, .. }, _) => *default,
            (Slicing::Length { .. }, Some(ConstValue::List(items))) => items.len() as u64,
            (Slicing::Length { .. }, _) => 1,
        }
    }
}
