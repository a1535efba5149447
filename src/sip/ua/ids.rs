//! [`Ids`]: the random identifiers of a call leg sipmap starts (Call-ID, From tag, branch), and
//! the branch convention that lets the edge tell the call engine's responses apart.

/// The prefix of every Via branch the call engine sends: the RFC 3261 magic cookie, sipmap's
/// `-sm-`, and `c-`. The edge's forwarded requests use `z9hG4bK-sm-` + exactly 32 hex digits
/// and its probes `z9hG4bK-sm-p`; neither can contain this `-` after the `c`.
pub const CALL_BRANCH_PREFIX: &str = "z9hG4bK-sm-c-";

/// The identifiers of a new outgoing call leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// The Call-ID: 32 hex digits (128 random bits), no host part (it tells nothing about
    /// sipmap).
    pub call_id: String,
    /// The From tag: 16 hex digits (64 random bits).
    pub tag: String,
    /// The INVITE's branch ([`Ids::branch`]).
    pub branch: String,
}

impl Ids {
    /// Fresh random identifiers.
    pub fn random() -> Self {
        Self {
            call_id: format!("{:032x}", rand::random::<u128>()),
            tag: Self::tag(),
            branch: Self::branch(),
        }
    }

    /// A new branch: [`CALL_BRANCH_PREFIX`] and 32 hex digits of 128 random bits. Unguessable,
    /// so that nobody who has not seen the request can answer it.
    pub fn branch() -> String {
        format!("{CALL_BRANCH_PREFIX}{:032x}", rand::random::<u128>())
    }

    /// A new tag (From tag of a leg sipmap starts, To tag of a dialog it answers): 16 hex
    /// digits of 64 random bits.
    pub fn tag() -> String {
        format!("{:016x}", rand::random::<u64>())
    }

    /// The branch of the ACK of a 2xx to the INVITE sent with `invite_branch`: a new
    /// transaction (RFC 3261 §13.2.2.4) whose branch is still unique, and the same each time, so
    /// the ACK sent again for a retransmitted 2xx is the same ACK.
    pub fn ack_branch(invite_branch: &str) -> String {
        format!("{invite_branch}-ack")
    }

    /// Whether a branch is one the call engine sent (a response carrying it is the engine's).
    pub fn is_call_branch(branch: &str) -> bool {
        branch.starts_with(CALL_BRANCH_PREFIX)
    }

    /// A client nonce for digest credentials: 32 hex digits.
    pub fn cnonce() -> String {
        format!("{:032x}", rand::random::<u128>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_fresh_and_branches_recognisable() {
        let a = Ids::random();
        let b = Ids::random();
        assert_ne!(a, b);
        assert_eq!(a.call_id.len(), 32);
        assert_eq!(a.tag.len(), 16);
        assert!(Ids::is_call_branch(&a.branch));
        assert_eq!(a.branch.len(), CALL_BRANCH_PREFIX.len() + 32);
        assert!(Ids::is_call_branch(&Ids::ack_branch(&a.branch)));
        // The edge's branches are not the call engine's, even when their hash starts with c.
        assert!(!Ids::is_call_branch(
            "z9hG4bK-sm-c0ffee0123456789abcdef0123456789a"
        ));
        assert!(!Ids::is_call_branch(
            "z9hG4bK-sm-p0000000000000001abcdef0123456789"
        ));
    }
}
