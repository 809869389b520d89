//! What a GraphQL request may cost, decided from its parsed document and variables before the
//! library validates or runs it (DESIGN section 6; issue 14).
//!
//! The library's own depth and complexity limits run inside its validation, which expands
//! every fragment spread again (a chain of fragments doubling per level took 12-23 s of CPU
//! before it was refused), and its complexity counts a list field once whatever its page size
//! (a 201-byte query produced 29.6 MB). Here the estimate follows the federation
//! `@cost`/`@listSize` model instead: a list field counts its `first` (or its default page
//! size) times its selection, nesting multiplies, and fragments are measured once each.
//!
//! Every limit and the reasons for its value are in docs/decisions.md ("Request limits").

mod model;
mod walk;

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Value as ConstValue, Variables};

use model::Shapes;
pub use walk::ASSUMED_LIST_SIZE;
use walk::{Summary, Walk};

/// Largest estimated cost (values in the response) accepted. The benchmark's page (100 VMs
/// with host, datastores, alerts, identity, guest and topology) costs 30,505, the same page
/// at the largest `first` (500) 152,505, the heaviest query of the tests 53,001; 200,000
/// values is a few MB of JSON, well inside the response cap.
pub const MAX_COST: u64 = 200_000;
/// Deepest field nesting accepted (VM -> host -> vms -> nodes -> vsphere -> topology ->
/// cluster -> name is 9, graphql-js' introspection query 14).
pub const MAX_DEPTH: u64 = 16;
/// Most aliased fields accepted, counted after fragment expansion.
pub const MAX_ALIASES: u64 = 100;
/// Most fragment spreads accepted, counted after expansion (each spread of a fragment counts
/// the spreads inside it again).
pub const MAX_FRAGMENT_SPREADS: u64 = 1_000;
/// Nesting of `fields`/`interfaces`/`possibleTypes`/`inputFields` at or above which an
/// introspection query is refused, as graphql-js' `MaxIntrospectionDepthRule` (3).
pub const MAX_INTROSPECTION_NESTING: u64 = 3;

/// The caps a request is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// See [`MAX_COST`].
    pub max_cost: u64,
    /// See [`MAX_DEPTH`].
    pub max_depth: u64,
    /// See [`MAX_ALIASES`].
    pub max_aliases: u64,
    /// See [`MAX_FRAGMENT_SPREADS`].
    pub max_fragment_spreads: u64,
    /// Most on-demand vCenter calls one request may need: a connection's budget burst
    /// (`[ondemand] burst`).
    pub max_vcenter_calls: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_cost: MAX_COST,
            max_depth: MAX_DEPTH,
            max_aliases: MAX_ALIASES,
            max_fragment_spreads: MAX_FRAGMENT_SPREADS,
            max_vcenter_calls: u64::from(crate::ondemand::BudgetSettings::default().burst),
        }
    }
}

/// Why a request is refused before the library sees it. Each has a stable `extensions.code`
/// ([`Refusal::code`]); all are answered with HTTP 400, except GraphQL's own validation
/// errors ([`Refusal::is_validation`]), which are request errors like the library's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The estimated response is too large.
    #[error("query is too complex: estimated cost {cost}, limit {max} (a list field counts its `first`, default 50, times its selection, and nesting multiplies: ask for smaller pages or fewer nested lists)")]
    TooComplex { cost: u64, max: u64 },
    /// Fields nest too deep.
    #[error("query is nested too deep: depth {depth}, limit {max}")]
    TooDeep { depth: u64, max: u64 },
    /// Introspection lists nest too deep.
    #[error("introspection query is nested too deep: `fields`, `interfaces`, `possibleTypes` or `inputFields` nest {nesting} levels, limit {}", MAX_INTROSPECTION_NESTING - 1)]
    IntrospectionTooDeep { nesting: u64 },
    /// Too many aliases.
    #[error("too many aliases: {aliases} after expanding fragments, limit {max}")]
    TooManyAliases { aliases: u64, max: u64 },
    /// Too many fragment spreads once expanded.
    #[error("too many fragment spreads: {spreads} after expanding fragments, limit {max}")]
    TooManyFragments { spreads: u64, max: u64 },
    /// The request may need more vCenter calls than a connection's on-demand budget pays
    /// for at once.
    #[error("this request may need {calls} vCenter calls (one per object whose older events it asks for); a connection's on-demand budget pays for {max} per request: ask for fewer objects per request")]
    TooManyVcenterCalls { calls: u64, max: u64 },
    /// A fragment spreads itself, directly or through others.
    #[error("cannot spread fragment \"{0}\" within itself")]
    FragmentCycle(String),
    /// An `Int` literal outside 32 bits (GraphQL's `Int`; the gateway holds clients to it).
    #[error("Int cannot represent non 32-bit signed integer value: {value} (argument \"{argument}\" of field \"{field}\")")]
    IntOutOfRange {
        value: String,
        argument: String,
        field: String,
    },
}

impl Refusal {
    /// Whether this is one of GraphQL's validation rules (found here first), answered as the
    /// library answers a validation error.
    pub fn is_validation(&self) -> bool {
        matches!(
            self,
            Refusal::FragmentCycle(_) | Refusal::IntOutOfRange { .. }
        )
    }

    /// The stable `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TooComplex { .. } => "QUERY_TOO_COMPLEX",
            Refusal::TooDeep { .. } | Refusal::IntrospectionTooDeep { .. } => "QUERY_TOO_DEEP",
            Refusal::TooManyAliases { .. } => "TOO_MANY_ALIASES",
            Refusal::TooManyFragments { .. } => "TOO_MANY_FRAGMENTS",
            Refusal::TooManyVcenterCalls { .. } => "ONDEMAND_BUDGET_EXCEEDED",
            Refusal::FragmentCycle(_) | Refusal::IntOutOfRange { .. } => {
                "GRAPHQL_VALIDATION_FAILED"
            }
        }
    }
}

/// What an accepted request was estimated to cost (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Estimated values in the response.
    pub cost: u64,
    /// Deepest field nesting.
    pub depth: u64,
    /// Aliased fields after expansion.
    pub aliases: u64,
    /// Fragment spreads after expansion.
    pub fragment_spreads: u64,
    /// On-demand vCenter calls the request may make at most.
    pub vcenter_calls: u64,
}

/// The schema's shape and the caps: checks a parsed request in one linear pass.
#[derive(Debug)]
pub struct CostModel {
    shapes: Shapes,
    limits: Limits,
}

impl CostModel {
    /// A model of the schema whose SDL (with the federation `_entities` field) is `sdl`.
    pub fn new(sdl: &str, limits: Limits) -> CostModel {
        CostModel {
            shapes: Shapes::from_sdl(sdl),
            limits,
        }
    }

    /// The caps.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Measures every operation of `doc` (the library validates them all) with `variables`.
    ///
    /// # Errors
    /// The first cap exceeded, in the order fragments, aliases, depth, cost; or a fragment
    /// cycle.
    pub fn check(
        &self,
        doc: &ExecutableDocument,
        variables: &Variables,
    ) -> Result<Estimate, Refusal> {
        let mut values: HashMap<&str, &ConstValue> = HashMap::new();
        for (_, op) in doc.operations.iter() {
            for v in &op.node.variable_definitions {
                if let Some(d) = &v.node.default_value {
                    values.insert(v.node.name.node.as_str(), &d.node);
                }
            }
        }
        for (name, value) in variables.iter() {
            values.insert(name.as_str(), value);
        }
        let mut walk = Walk::new(&self.shapes, &doc.fragments, &values);
        let mut total = Summary::default();
        for (_, op) in doc.operations.iter() {
            let root = match op.node.ty {
                OperationType::Query => Some(self.shapes.query.as_str()),
                OperationType::Mutation => self.shapes.mutation.as_deref(),
                OperationType::Subscription => None,
            };
            let s = walk.selection_set(&op.node.selection_set, root, None)?;
            total.cost = total.cost.saturating_add(s.cost);
            total.depth = total.depth.max(s.depth);
            total.aliases = total.aliases.saturating_add(s.aliases);
            total.spreads = total.spreads.saturating_add(s.spreads);
            total.introspection = total.introspection.max(s.introspection);
            total.vcenter_calls = total.vcenter_calls.saturating_add(s.vcenter_calls);
        }
        self.judge(total)
    }

    fn judge(&self, s: Summary) -> Result<Estimate, Refusal> {
        let l = &self.limits;
        if s.spreads > l.max_fragment_spreads {
            return Err(Refusal::TooManyFragments {
                spreads: s.spreads,
                max: l.max_fragment_spreads,
            });
        }
        if s.aliases > l.max_aliases {
            return Err(Refusal::TooManyAliases {
                aliases: s.aliases,
                max: l.max_aliases,
            });
        }
        if s.depth > l.max_depth {
            return Err(Refusal::TooDeep {
                depth: s.depth,
                max: l.max_depth,
            });
        }
        if s.introspection >= MAX_INTROSPECTION_NESTING {
            return Err(Refusal::IntrospectionTooDeep {
                nesting: s.introspection,
            });
        }
        if s.cost > l.max_cost {
            return Err(Refusal::TooComplex {
                cost: s.cost,
                max: l.max_cost,
            });
        }
        if s.vcenter_calls > l.max_vcenter_calls {
            return Err(Refusal::TooManyVcenterCalls {
                calls: s.vcenter_calls,
                max: l.max_vcenter_calls,
            });
        }
        Ok(Estimate {
            cost: s.cost,
            depth: s.depth,
            aliases: s.aliases,
            fragment_spreads: s.spreads,
            vcenter_calls: s.vcenter_calls,
        })
    }
}

#[cfg(test)]
mod tests;
