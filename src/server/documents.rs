//! Parsed GraphQL documents by their text, kept per execution thread. A client sends the same
//! few documents over and over (a page query with other variables); parsing one again costs
//! more than the cost estimate and the validation together (docs/performance.md).
//!
//! Per thread, not shared: a document's names are reference-counted, every field of a response
//! clones its name, and two threads cloning the same names contend on their counters (a shared
//! cache made a page slower than parsing it again). The execution threads are few and
//! long-lived, so each keeps its own small set.

use std::cell::RefCell;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::parser::{parse_query, Error};

/// Documents kept per thread.
const PER_THREAD: usize = 32;
/// Longer documents are parsed every time (a large one is rare and would crowd out the rest).
const MAX_TEXT_BYTES: usize = 16 << 10;

thread_local! {
    /// Most recently used first.
    static KEPT: RefCell<Vec<(String, ExecutableDocument)>> = const { RefCell::new(Vec::new()) };
}

/// `text` parsed: from this thread's set when it was parsed here before. Documents that do not
/// parse are not kept (a client repeating one gets the same error at the parser's cost).
///
/// # Errors
/// The parser's error.
pub fn parse(text: &str) -> Result<ExecutableDocument, Error> {
    if text.len() > MAX_TEXT_BYTES {
        return parse_query(text);
    }
    KEPT.with_borrow_mut(|kept| {
        if let Some(i) = kept.iter().position(|(t, _)| t == text) {
            let hit = kept.remove(i);
            let doc = hit.1.clone();
            kept.insert(0, hit);
            return Ok(doc);
        }
        let doc = parse_query(text)?;
        kept.truncate(PER_THREAD - 1);
        kept.insert(0, (text.to_string(), doc.clone()));
        Ok(doc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_parses_the_same_from_the_set() {
        let text =
            "query Q($a: String) { vsphereVms(after: $a) { totalCount } } fragment F on Vm { id }";
        let first = parse(text).expect("parses");
        let again = parse(text).expect("parses");
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert!(parse("{ unclosed").is_err());
        assert!(
            parse("{ unclosed").is_err(),
            "an error is not kept as a document"
        );
    }

    #[test]
    fn the_set_is_bounded() {
        for i in 0..PER_THREAD * 2 {
            parse(&format!("{{ a{i}: vsphereVms {{ totalCount }} }}")).expect("parses");
        }
        assert_eq!(KEPT.with_borrow(Vec::len), PER_THREAD);
    }
}
