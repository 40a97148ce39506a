//! [`Code`] and [`Status`]: how a call ends, with gRPC's status codes.
//!
//! SlimRPC carries the numeric gRPC code in the `slimrpc-code` metadata of a call's terminal
//! frame and the message as the frame's UTF-8 payload, so the codes here are exactly gRPC's
//! (0 to 16) and a peer written against gRPC's table understands them.

use std::fmt;

/// A gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// 0: success.
    Ok,
    /// 1: the caller cancelled the call.
    Cancelled,
    /// 2: an error without a better code (also any code number a peer sends that is not in
    /// this table).
    Unknown,
    /// 3: the request is malformed (including a request that does not decode).
    InvalidArgument,
    /// 4: the deadline passed before the call finished.
    DeadlineExceeded,
    /// 5: something the request names does not exist.
    NotFound,
    /// 6: what the request would create exists already.
    AlreadyExists,
    /// 7: the caller may not do this.
    PermissionDenied,
    /// 8: a quota or a bound ran out (too many calls, a cache full of running calls, ...).
    ResourceExhausted,
    /// 9: the system is not in the state the call needs.
    FailedPrecondition,
    /// 10: the call was aborted (for example a concurrency conflict).
    Aborted,
    /// 11: a value is out of the valid range.
    OutOfRange,
    /// 12: the server does not implement this method.
    Unimplemented,
    /// 13: an invariant broke inside the server or the library.
    Internal,
    /// 14: the server or the path to it is unavailable (retrying may help).
    Unavailable,
    /// 15: data was lost or corrupted.
    DataLoss,
    /// 16: the caller's identity could not be established.
    Unauthenticated,
}

const CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl Code {
    /// The code with this number, if gRPC defines it.
    pub fn from_i32(value: i32) -> Option<Code> {
        usize::try_from(value)
            .ok()
            .and_then(|index| CODES.get(index))
            .copied()
    }

    /// Reads the `slimrpc-code` metadata value: a decimal number; anything not in gRPC's
    /// table is [`Code::Unknown`] (a peer's bad value must not look like success).
    pub fn from_wire(text: &str) -> Code {
        text.trim()
            .parse::<i32>()
            .ok()
            .and_then(Code::from_i32)
            .unwrap_or(Code::Unknown)
    }

    /// The code's number.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// gRPC's name for the code (`"DEADLINE_EXCEEDED"`).
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a call failed: a [`Code`] and a message for people.
///
/// ```
/// use slim_rpc::{Code, Status};
/// let status = Status::not_found("no such tool: grep");
/// assert_eq!(status.code(), Code::NotFound);
/// assert_eq!(status.to_string(), "NOT_FOUND: no such tool: grep");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    code: Code,
    message: String,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same status with `prefix: ` in front of its message (used to attribute a group
    /// member's failure).
    pub fn prefixed(&self, prefix: impl fmt::Display) -> Status {
        Status::new(self.code, format!("{prefix}: {}", self.message))
    }

    constructors! {
        /// [`Code::Cancelled`].
        cancelled => Cancelled,
        /// [`Code::Unknown`].
        unknown => Unknown,
        /// [`Code::InvalidArgument`].
        invalid_argument => InvalidArgument,
        /// [`Code::DeadlineExceeded`].
        deadline_exceeded => DeadlineExceeded,
        /// [`Code::NotFound`].
        not_found => NotFound,
        /// [`Code::AlreadyExists`].
        already_exists => AlreadyExists,
        /// [`Code::PermissionDenied`].
        permission_denied => PermissionDenied,
        /// [`Code::ResourceExhausted`].
        resource_exhausted => ResourceExhausted,
        /// [`Code::FailedPrecondition`].
        failed_precondition => FailedPrecondition,
        /// [`Code::Aborted`].
        aborted => Aborted,
        /// [`Code::OutOfRange`].
        out_of_range => OutOfRange,
        /// [`Code::Unimplemented`].
        unimplemented => Unimplemented,
        /// [`Code::Internal`].
        internal => Internal,
        /// [`Code::Unavailable`].
        unavailable => Unavailable,
        /// [`Code::DataLoss`].
        data_loss => DataLoss,
        /// [`Code::Unauthenticated`].
        unauthenticated => Unauthenticated,
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for Status {}

impl From<prost::DecodeError> for Status {
    fn from(error: prost::DecodeError) -> Self {
        Status::invalid_argument(format!("message does not decode: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_numbers() {
        for (number, code) in CODES.iter().enumerate() {
            let number = i32::try_from(number).unwrap();
            assert_eq!(code.as_i32(), number);
            assert_eq!(Code::from_i32(number), Some(*code));
            assert_eq!(Code::from_wire(&number.to_string()), *code);
        }
        assert_eq!(Code::DeadlineExceeded.name(), "DEADLINE_EXCEEDED");
        assert_eq!(Code::Unauthenticated.as_i32(), 16);
    }

    #[test]
    fn bad_wire_codes_are_unknown_never_ok() {
        for text in ["17", "-1", "", "ok", "0x0", "99999999999", "1.0"] {
            assert_eq!(Code::from_wire(text), Code::Unknown, "{text:?}");
        }
        assert_eq!(Code::from_i32(17), None);
    }

    #[test]
    fn display_names_the_code_and_message() {
        assert_eq!(Status::internal("boom").to_string(), "INTERNAL: boom");
        assert_eq!(Status::cancelled("").to_string(), "CANCELLED");
        let attributed = Status::unavailable("down").prefixed("org/ns/a");
        assert_eq!(attributed.message(), "org/ns/a: down");
        assert_eq!(attributed.code(), Code::Unavailable);
    }
}
