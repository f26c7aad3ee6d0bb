//! Mail on the wire: the player's requests on their mailbox and the server's answers.
//!
//! | request | reply |
//! |---|---|
//! | [`MailList`] (`before` = 0: newest) | [`MailPage`]: mails newest first (bodies left empty), unread and total counts |
//! | [`MailRead`] | [`MailItem`]: the whole mail, now marked read |
//! | [`MailMarkRead`] | [`MailDone`]: how many changed |
//! | [`MailDelete`] | [`MailDone`] (1), or an error: unknown mail, unclaimed attachments |
//! | [`MailClaim`] | [`MailClaimed`]: granted now, or already claimed (a retry, another device); or an error: unknown mail, nothing to claim, expired, refused, unavailable |
//!
//! A claim is answered only once the resources it added are saved with the player's ledger of
//! applied grants; the ledger refuses a mail's grant a second time, so claiming twice — a
//! retry after a lost reply, two devices, a server crash in between — grants once, and every
//! claim after the first is answered [`MailClaimed`] with `already_claimed` set.
//!
//! A report's body (kinds 1 battle, 2 scout) is the body of a [`PlayerEvent`] push — the same
//! report the player got pushed if online; read it with [`decode_report`]. A system mail's body
//! is UTF-8 text. Attachments are (resource code 0 food, 1 wood, 2 stone, 3 gold; amount).

use rkyv::{Archive, Deserialize, Serialize};

use super::messages::{MessageError, MessageType, ServerMessage};
use super::notice::PlayerEvent;

/// Most mails one [`MailList`] may ask for.
pub const MAX_PAGE: u16 = 100;
/// Most ids one [`MailMarkRead`] may carry.
pub const MAX_MARK: usize = 100;

/// Client → server: a page of the mailbox.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailList {
    /// Only mails with a smaller id (the last id of the previous page); 0 for the newest.
    pub before: u64,
    /// How many (1..=[`MAX_PAGE`]).
    pub limit: u16,
}

/// Client → server: one whole mail (marks it read).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailRead {
    /// The mail.
    pub id: u64,
}

/// Client → server: marks mails read.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailMarkRead {
    /// The mails (at most [`MAX_MARK`]).
    pub ids: Vec<u64>,
}

/// Client → server: deletes a mail (refused while its attachments are unclaimed).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailDelete {
    /// The mail.
    pub id: u64,
}

/// Client → server: claims a mail's attachments into the player's storehouse.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailClaim {
    /// The mail.
    pub id: u64,
}

/// Server → client: reply to [`MailClaim`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailClaimed {
    /// The mail.
    pub id: u64,
    /// True when this claim granted nothing because the attachments were claimed before (by a
    /// retry of this claim or another device); the storehouse holds them once.
    pub already_claimed: bool,
    /// The mail's attachments: (resource code, amount).
    pub attachments: Vec<(u8, u64)>,
}

/// One mail.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailWire {
    /// Id; newer mail has a higher id.
    pub id: u64,
    /// 1 battle report, 2 scout report, 3 system.
    pub kind: u8,
    /// Sent at (ms since the Unix epoch).
    pub sent_unix_ms: i64,
    /// Expires at (ms since the Unix epoch), if ever.
    pub expires_unix_ms: Option<i64>,
    /// Title.
    pub title: String,
    /// Body (empty in a [`MailPage`]).
    pub body: Vec<u8>,
    /// Attachments: (resource code, amount).
    pub attachments: Vec<(u8, u64)>,
    /// Read.
    pub read: bool,
    /// Attachments claimed.
    pub claimed: bool,
}

/// Server → client: reply to [`MailList`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailPage {
    /// Mails, newest first, bodies empty.
    pub mails: Vec<MailWire>,
    /// Unread mails in the mailbox.
    pub unread: u64,
    /// Mails in the mailbox.
    pub total: u64,
}

/// Server → client: reply to [`MailRead`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailItem {
    /// The mail, body included.
    pub mail: MailWire,
}

/// Server → client: reply to [`MailMarkRead`] and [`MailDelete`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MailDone {
    /// Mails changed.
    pub changed: u64,
}

impl super::messages::Validate for MailList {
    fn validate(&self) -> Result<(), String> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(format!("limit {} outside 1..={MAX_PAGE}", self.limit));
        }
        Ok(())
    }
}

impl super::messages::Validate for MailMarkRead {
    fn validate(&self) -> Result<(), String> {
        if self.ids.len() > MAX_MARK {
            return Err(format!("{} ids, at most {MAX_MARK}", self.ids.len()));
        }
        Ok(())
    }
}

/// The encoded body of a report mail: the [`PlayerEvent`] body bytes.
pub fn encode_report(event: &PlayerEvent) -> Vec<u8> {
    ServerMessage::from(event.clone())
        .encode_body()
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

/// The report a report mail's body holds (validated like any inbound message).
pub fn decode_report(body: &[u8]) -> Result<PlayerEvent, MessageError> {
    match ServerMessage::decode(MessageType::PlayerEvent.id(), body)? {
        ServerMessage::PlayerEvent(e) => Ok(e),
        other => Err(MessageError::WrongDirection(other.message_type())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::notice::EventBody;
    use crate::proto::{ClientMessage, MessageError};

    #[test]
    fn list_limits_are_checked_on_the_way_in() {
        for (limit, ok) in [
            (0u16, false),
            (1, true),
            (MAX_PAGE, true),
            (MAX_PAGE + 1, false),
        ] {
            let body = ClientMessage::from(MailList { before: 0, limit })
                .encode_body()
                .unwrap();
            let r = ClientMessage::decode(MessageType::MailList.id(), &body);
            assert_eq!(r.is_ok(), ok, "limit {limit}: {r:?}");
        }
        let body = ClientMessage::from(MailMarkRead {
            ids: vec![1; MAX_MARK + 1],
        })
        .encode_body()
        .unwrap();
        assert!(matches!(
            ClientMessage::decode(MessageType::MailMarkRead.id(), &body),
            Err(MessageError::Invalid { .. })
        ));
    }

    #[test]
    fn a_report_body_round_trips() {
        let e = PlayerEvent {
            tick: 5,
            event: EventBody::MarchDestroyed {
                march: 3,
                load_lost: [1, 2, 3, 4],
            },
        };
        assert_eq!(decode_report(&encode_report(&e)).unwrap(), e);
        assert!(decode_report(&[1, 2, 3]).is_err());
    }
}
