//! Constructors of the command payloads, one per session message type.
//!
//! Each function returns the `CommandPayloadType` arm exactly as the reference describes it
//! (which optional fields are present and when); [`super::Envelope::command`] wraps it.

use bytes::Bytes;
use slim_wire::Name;
use slim_wire::proto::{self, command_payload::CommandPayloadType as C};

use crate::config::{MlsSettings, Retries};

/// A roster entry as carried in JoinReply, GroupUpdate and GroupWelcome.
pub(crate) fn participant(name: &Name, online: bool) -> proto::Participant {
    proto::Participant {
        name: Some(name.to_proto()),
        settings: Some(proto::ParticipantSettings {
            sends_data: true,
            receives_data: true,
        }),
        status: if online {
            proto::ParticipantState::Online as i32
        } else {
            proto::ParticipantState::Offline as i32
        },
    }
}

/// `DiscoveryRequest {}`.
pub(crate) fn discovery_request() -> C {
    C::DiscoveryRequest(proto::DiscoveryRequestPayload {})
}

/// `DiscoveryReply {}`.
pub(crate) fn discovery_reply() -> C {
    C::DiscoveryReply(proto::DiscoveryReplyPayload {})
}

/// `JoinRequest`: timers iff reliable, MLS settings iff MLS, channel and control names iff
/// group.
pub(crate) fn join_request(
    reliability: Option<Retries>,
    channels: Option<(&Name, &Name)>,
    mls: Option<MlsSettings>,
) -> C {
    C::JoinRequest(proto::JoinRequestPayload {
        timer_settings: reliability.map(|r| proto::TimerSettings {
            timeout: u32::try_from(r.interval.as_millis()).unwrap_or(u32::MAX),
            max_retries: r.max_retries,
        }),
        channel: channels.map(|(data, _)| data.to_proto()),
        control: channels.map(|(_, control)| control.to_proto()),
        mls_settings: mls.map(|m| proto::MlsSettings {
            header_integrity_validation_percent: m.header_integrity_validation_percent,
        }),
    })
}

/// `JoinReply`: the key package (MLS only) and the joining participant.
pub(crate) fn join_reply(me: &Name, key_package: Option<Bytes>) -> C {
    C::JoinReply(proto::JoinReplyPayload {
        key_package,
        participant: Some(participant(me, true)),
    })
}

/// `LeaveRequest {}`.
pub(crate) fn leave_request() -> C {
    C::LeaveRequest(proto::LeaveRequestPayload {})
}

/// `LeaveReply {}`.
pub(crate) fn leave_reply() -> C {
    C::LeaveReply(proto::LeaveReplyPayload {})
}

/// An MLS commit or welcome with the moderator's commit sequence number.
pub(crate) fn mls_payload(commit_id: u32, content: Bytes) -> proto::MlsPayload {
    proto::MlsPayload {
        commit_id,
        mls_content: content,
    }
}

/// `GroupUpdate`: the operation, the member it is about, the full roster with status, and
/// the MLS commit when MLS is on.
pub(crate) fn group_update(
    op: proto::GroupUpdateOp,
    subject: proto::Participant,
    roster: Vec<proto::Participant>,
    mls: Option<proto::MlsPayload>,
) -> C {
    C::GroupUpdate(proto::GroupUpdatePayload {
        op: op as i32,
        participant: Some(subject),
        participants: roster,
        mls,
    })
}

/// `GroupWelcome`: the roster and the MLS welcome (its `commit_id` = last commit applied).
pub(crate) fn group_welcome(roster: Vec<proto::Participant>, mls: Option<proto::MlsPayload>) -> C {
    C::GroupWelcome(proto::GroupWelcomePayload {
        participants: roster,
        mls,
    })
}

/// `GroupClose`: the names (with ids) of the members being closed.
pub(crate) fn group_close(members: &[Name]) -> C {
    C::GroupClose(proto::GroupClosePayload {
        participants: members.iter().map(Name::to_proto).collect(),
    })
}

/// `GroupAck {}`.
pub(crate) fn group_ack() -> C {
    C::GroupAck(proto::GroupAckPayload {})
}

/// `GroupNack {}`.
pub(crate) fn group_nack() -> C {
    C::GroupNack(proto::GroupNackPayload {})
}

/// `Heartbeat`: the sender's MLS epoch ([`super::NO_MLS_EPOCH`] without MLS).
pub(crate) fn heartbeat(epoch: u64) -> C {
    C::Heartbeat(proto::HeartbeatPayload { epoch })
}

/// `UpdateParticipantState`: a member announcing it goes offline (soft close) or comes back
/// online at `epoch`.
pub(crate) fn update_participant_state(me: &Name, online: bool, epoch: u64) -> C {
    C::UpdateParticipantState(proto::UpdateParticipantStatePayload {
        participant: Some(me.to_proto()),
        new_state: if online {
            proto::ParticipantState::Online as i32
        } else {
            proto::ParticipantState::Offline as i32
        },
        epoch,
    })
}

/// `RejoinRequest`: a member behind on epochs asks to be re-added with a fresh key package.
pub(crate) fn rejoin_request(me: &Name, key_package: Bytes) -> C {
    C::RejoinRequest(proto::RejoinRequestPayload {
        participant: Some(me.to_proto()),
        key_package,
    })
}

/// `RejoinReply`: the welcome for a rejoining member.
pub(crate) fn rejoin_reply(commit_id: u32, welcome: Bytes) -> C {
    C::RejoinReply(proto::RejoinReplyPayload {
        commit_id,
        mls_content: welcome,
    })
}
