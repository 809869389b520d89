//! vCenter transport: sessions, TLS, both API families, failure classes.
