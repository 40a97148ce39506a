//! The SLIM client library for Rust applications.
//!
//! For now it holds [`dataplane`]: a minimal async client of a SLIM node (connect with link
//! negotiation and header MACs, subscribe, unsubscribe, publish, receive), enough for tools,
//! tests and load generators. The session layer (point-to-point and group sessions, MLS,
//! reliability) will sit on top of it in this crate.

#![forbid(unsafe_code)]

pub mod dataplane;
