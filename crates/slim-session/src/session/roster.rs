//! [`Roster`]: the members of a session as this endpoint knows them.
//!
//! Every endpoint keeps one (the moderator's is authoritative and travels in welcomes and
//! group updates). It stores the *other* members; this endpoint is added when a wire roster
//! or the participant list is produced. Each member carries its liveness (last time anything
//! was heard from it) and, at the moderator, its MLS leaf.

use std::time::Instant;

use slim_wire::Name;
use slim_wire::proto;

use crate::event::{MemberStatus, ParticipantInfo};
use crate::security::MemberId;
use crate::wire;

/// One other member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub name: Name,
    pub status: MemberStatus,
    /// MLS leaf (moderator only).
    pub mls: Option<MemberId>,
    pub last_heard: Instant,
}

/// The other members of a session.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    members: Vec<Member>,
}

impl Roster {
    /// Adds a member (online, heard now). Returns false if it was already there.
    pub fn add(&mut self, name: Name, mls: Option<MemberId>, now: Instant) -> bool {
        if let Some(m) = self.get_mut(&name) {
            if mls.is_some() {
                m.mls = mls;
            }
            return false;
        }
        self.members.push(Member {
            name,
            status: MemberStatus::Online,
            mls,
            last_heard: now,
        });
        true
    }

    /// Removes a member.
    pub fn remove(&mut self, name: &Name) -> Option<Member> {
        let pos = self.members.iter().position(|m| &m.name == name)?;
        Some(self.members.swap_remove(pos))
    }

    /// The member with exactly this name.
    pub fn get(&self, name: &Name) -> Option<&Member> {
        self.members.iter().find(|m| &m.name == name)
    }

    /// Mutable access to a member.
    pub fn get_mut(&mut self, name: &Name) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| &m.name == name)
    }

    /// Resolves a name given by the application: exact match, or (for an any-instance name)
    /// the only member of that service.
    pub fn resolve(&self, name: &Name) -> Option<&Member> {
        if let Some(m) = self.get(name) {
            return Some(m);
        }
        if !name.id().is_any() {
            return None;
        }
        let mut matches = self.members.iter().filter(|m| m.name.same_service(name));
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    }

    /// All other members.
    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    /// Names of online members, except `except`.
    pub fn online_except(&self, except: Option<&Name>) -> Vec<Name> {
        self.members
            .iter()
            .filter(|m| m.status == MemberStatus::Online && Some(&m.name) != except)
            .map(|m| m.name.clone())
            .collect()
    }

    /// True when there is no other member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Records traffic from `name`.
    pub fn heard(&mut self, name: &Name, now: Instant) {
        if let Some(m) = self.get_mut(name) {
            m.last_heard = now;
        }
    }

    /// The wire roster: `me` first (online), then every other member with its status.
    pub fn to_wire(&self, me: &Name) -> Vec<proto::Participant> {
        std::iter::once(wire::participant(me, true))
            .chain(
                self.members
                    .iter()
                    .map(|m| wire::participant(&m.name, m.status == MemberStatus::Online)),
            )
            .collect()
    }

    /// The participant list for the application: `me` first, then the others.
    pub fn to_info(&self, me: &Name) -> Vec<ParticipantInfo> {
        std::iter::once(ParticipantInfo {
            name: me.clone(),
            status: MemberStatus::Online,
        })
        .chain(self.members.iter().map(|m| ParticipantInfo {
            name: m.name.clone(),
            status: m.status,
        }))
        .collect()
    }
}
