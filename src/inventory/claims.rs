//! Which connection reads which vCenter. Two saved connections to one vCenter (same
//! instanceUuid) would read everything twice and double every count; the first to claim an
//! identity keeps it, a later one is a duplicate and holds no session.

use std::collections::HashMap;
use std::sync::Mutex;

/// vCenter identities (lower-cased instanceUuid) and the connection holding each.
#[derive(Debug, Default)]
pub struct Claims {
    held: Mutex<HashMap<String, String>>,
}

impl Claims {
    /// Claims `instance_uuid` for `connection`, giving up what `connection` held before (its
    /// endpoint may now be another vCenter). `Err` names the connection that holds it.
    pub fn claim(&self, instance_uuid: &str, connection: &str) -> Result<(), String> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let key = instance_uuid.to_ascii_lowercase();
        match held.get(&key) {
            Some(holder) if holder != connection => Err(holder.clone()),
            _ => {
                held.retain(|_, c| c != connection);
                held.insert(key, connection.to_string());
                Ok(())
            }
        }
    }

    /// Gives up whatever `connection` holds (it stopped, changed or was removed).
    pub fn release(&self, connection: &str) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c != connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_claim_wins_until_released() {
        let c = Claims::default();
        assert_eq!(c.claim("UUID-1", "a"), Ok(()));
        assert_eq!(c.claim("uuid-1", "b"), Err("a".into()));
        assert_eq!(c.claim("uuid-1", "a"), Ok(()), "claiming again is fine");
        assert_eq!(c.claim("uuid-2", "a"), Ok(()), "a moved to another vCenter");
        assert_eq!(c.claim("uuid-1", "b"), Ok(()), "so uuid-1 is free");
        c.release("b");
        assert_eq!(c.claim("uuid-1", "c"), Ok(()));
    }
}
