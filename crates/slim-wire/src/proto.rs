//! The generated prost types of `dataplane.proto.v1`.
//!
//! These mirror the wire exactly and carry no invariants; use [`crate::Frame`] to validate
//! received bytes and [`crate::Name`] for names.

#![allow(missing_docs, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/dataplane.proto.v1.rs"));
