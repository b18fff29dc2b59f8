//! The language server (stub while it is written).
