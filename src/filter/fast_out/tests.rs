//! The fast writers against the slow path on generated documents.
