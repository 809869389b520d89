//! Objects resolved field after field in one future, for types whose fields read the in-memory
//! snapshot and never wait.
//!
//! The library resolves every field of every object as its own boxed future and polls each
//! object's fields through a fresh `FuturesUnordered`: on a page of 100 VMs that is ~4,400
//! futures, none of which ever waits, and they cost more CPU than the page's data (the profile
//! in docs/performance.md). [`Inline`] gives a type the same schema and the same field
//! resolvers (its own derived ones) but walks the selection set itself: the fields are awaited
//! one after the other inside one future per object, and the object's map is sized once.
//! Errors, aliases, fragments and `__typename` come out as the library's own walk gives them.
//! Fields resolved here are not reported to schema extensions, so the schema has none
//! (`schema.rs`); with a custom directive registered it hands back to the library's walk.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{resolve_container, ContainerType};
use async_graphql::{
    Context, ContextSelectionSet, Name, OutputType, Positioned, ServerError, ServerResult, Value,
};

/// `T` as a GraphQL object resolved inline; see the module documentation.
pub struct Inline<T>(pub T);

impl<T: ContainerType> OutputType for Inline<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        // One allocation per object (not per field). The `dyn` keeps this future's type from
        // containing the fields' futures, which contain this type again where types refer to
        // each other (a VM's host lists VMs).
        let fields: Pin<Box<dyn Future<Output = ServerResult<Value>> + Send + '_>> =
            Box::pin(resolve_inline(ctx, &self.0));
        fields.await
    }
}

impl<T: ContainerType> ContainerType for Inline<T> {
    fn resolve_field(
        &self,
        ctx: &Context<'_>,
    ) -> impl Future<Output = ServerResult<Option<Value>>> + Send {
        self.0.resolve_field(ctx)
    }
}

async fn resolve_inline<T: ContainerType>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> ServerResult<Value> {
    if !ctx.schema_env.custom_directives.is_empty() {
        return resolve_container(ctx, root).await;
    }
    let mut fields = Vec::with_capacity(ctx.item.node.items.len());
    collect(ctx, root, &ctx.item.node, &mut fields)?;
    let mut out = IndexMap::with_capacity(fields.len());
    for field in fields {
        let key = field.node.response_key().node.clone();
        if field.node.name.node == "__typename" {
            let name = root.introspection_type_name().into_owned();
            insert_value(&mut out, key, Value::String(name));
            continue;
        }
        match root.resolve_field(&ctx.with_field(field)).await {
            Ok(value) => insert_value(&mut out, key, value.unwrap_or_default()),
            Err(e) => ctx.add_error(e),
        }
    }
    Ok(if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    })
}

/// The fields `set` selects on `root`, fragments that apply to it spread in order.
fn collect<'a, T: ContainerType>(
    ctx: &ContextSelectionSet<'a>,
    root: &T,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Positioned<Field>>,
) -> ServerResult<()> {
    for selection in &set.items {
        let (condition, inner) = match &selection.node {
            Selection::Field(field) => {
                out.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let Some(fragment) = ctx.query_env.fragments.get(name) else {
                    return Err(ServerError::new(
                        format!(r#"Unknown fragment "{name}"."#),
                        Some(spread.pos),
                    ));
                };
                (
                    Some(&fragment.node.type_condition.node.on.node),
                    &fragment.node.selection_set.node,
                )
            }
            Selection::InlineFragment(fragment) => (
                fragment
                    .node
                    .type_condition
                    .as_ref()
                    .map(|c| &c.node.on.node),
                &fragment.node.selection_set.node,
            ),
        };
        if condition.is_none_or(|c| applies(ctx, root, c)) {
            collect(ctx, root, inner, out)?;
        }
    }
    Ok(())
}

/// Whether a fragment on `condition` applies to `root`: its own type or an interface it
/// implements.
fn applies<T: ContainerType>(ctx: &ContextSelectionSet<'_>, root: &T, condition: &str) -> bool {
    let own = root.introspection_type_name();
    own == condition
        || T::type_name() == condition
        || ctx
            .schema_env
            .registry
            .implements
            .get(own.as_ref())
            .is_some_and(|interfaces| interfaces.contains(condition))
}

/// Puts a field's value under its response key; the same key selected twice (two fragments)
/// merges the two selections, as the library does.
fn insert_value(target: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    use async_graphql::indexmap::map::Entry;
    let prev = match target.entry(name) {
        Entry::Vacant(slot) => {
            slot.insert(value);
            return;
        }
        Entry::Occupied(slot) => slot.into_mut(),
    };
    match (prev, value) {
        (Value::Object(prev), Value::Object(obj)) => {
            for (k, v) in obj {
                insert_value(prev, k, v);
            }
        }
        (Value::List(prev), Value::List(list)) => {
            for (item, v) in prev.iter_mut().zip(list) {
                if let (Value::Object(prev), Value::Object(obj)) = (item, v) {
                    for (k, v) in obj {
                        insert_value(prev, k, v);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A list of strings read from a record, written out in one step instead of one future per
/// element (the library's list walk); the same schema type as `&[String]`: `[String!]!`.
pub struct Strings<'a>(pub &'a [String]);

impl OutputType for Strings<'_> {
    fn type_name() -> Cow<'static, str> {
        <&[String] as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <&[String] as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <&[String] as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        Ok(Value::List(
            self.0.iter().map(|s| Value::String(s.clone())).collect(),
        ))
    }
}
