//! The journal's byte format: one [`TickRecord`] per tick that had inputs (or a hash
//! checkpoint), framed with a length and a checksum so a torn or corrupt tail is detected.
//!
//! Frame (little-endian): `magic "DJRN" | format u16 | reserved u16 | payload length u32 |
//! BLAKE3(payload)[..8] | payload`. Payload (format 1): `tick u64 | previous record's tick u64 |
//! hash flag u8 [+ 32 bytes] | input count u32 | inputs`, each input a tag byte and its fields.
//! Decoding never panics: every length is checked against what is left, and a count is never
//! used to size a buffer before the bytes for it are known to be there.

use dominion_sim::command::{Command, Submitted};
use dominion_sim::march::Mission;
use dominion_sim::types::{ObjectId, PlayerId, Resources, TilePos, Troops};

/// Frame magic.
pub const MAGIC: [u8; 4] = *b"DJRN";
/// The payload format this build writes and reads.
pub const FORMAT: u16 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 4 + 2 + 2 + 4 + 8;
/// Largest payload accepted (a tick takes at most a few thousand inputs; this is far above).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// Something from outside the world that changed it at the start of a tick, in the order the
/// tick thread applied it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalInput {
    /// A player's command, submitted to the world (applied in this order by the tick).
    Command {
        /// Sender.
        player: PlayerId,
        /// The sender's request id (answered with it).
        request_id: u32,
        /// The command.
        command: Command,
    },
    /// A player was given a city.
    FoundCity {
        /// The player.
        player: PlayerId,
    },
    /// A player joined or left an alliance.
    Alliance {
        /// The player.
        player: PlayerId,
        /// The alliance, or none.
        alliance: Option<u64>,
    },
    /// A designer config was staged for this tick (its texts are kept by digest beside the
    /// journal, see [`super::ConfigBlobs`]).
    Config {
        /// BLAKE3 digest of the asset texts ([`dominion_sim::config::Assets::digest`]).
        digest: [u8; 32],
    },
    /// A claimed mail's attachments granted to a player (`Kingdom::grant`; refused there when
    /// the player's ledger already holds the grant, the same on replay).
    Grant {
        /// The player.
        player: PlayerId,
        /// The grant id (the mail's id).
        grant: u64,
        /// The player's oldest claimable mail when the claim was sent.
        oldest_open: u64,
        /// What it adds.
        resources: Resources,
    },
}

/// One tick's inputs, and every so often the world's hash after the tick ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickRecord {
    /// The tick these inputs went into (the tick number after it ran).
    pub tick: u64,
    /// The tick of the journal's previous record (0 for the first ever), so a missing record
    /// is detected on replay.
    pub prev_tick: u64,
    /// `state_hash` of the world after this tick ran, on checkpoint ticks.
    pub state_hash: Option<[u8; 32]>,
    /// The inputs, in the order they were applied.
    pub inputs: Vec<JournalInput>,
}

/// Why bytes are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the frame or a field needs (a torn write).
    #[error("record truncated: {0}")]
    Truncated(&'static str),
    /// The frame does not start with the magic.
    #[error("not a journal record (bad magic)")]
    BadMagic,
    /// A format this build does not read.
    #[error("journal format {0} is not supported (this build reads format {FORMAT})")]
    Format(u16),
    /// The checksum does not match the payload.
    #[error("checksum mismatch")]
    Checksum,
    /// The payload is longer than any record may be.
    #[error("payload length {0} exceeds the limit")]
    TooLong(usize),
    /// A field holds an impossible value.
    #[error("invalid field: {0}")]
    Invalid(String),
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let h = blake3::hash(payload);
    let mut c = [0u8; 8];
    c.copy_from_slice(&h.as_bytes()[..8]);
    c
}

/// Appends `record`, framed, to `out`.
pub fn encode_record(record: &TickRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    let p0 = out.len();
    out.extend_from_slice(&record.tick.to_le_bytes());
    out.extend_from_slice(&record.prev_tick.to_le_bytes());
    match &record.state_hash {
        Some(h) => {
            out.push(1);
            out.extend_from_slice(h);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(record.inputs.len() as u32).to_le_bytes());
    for input in &record.inputs {
        encode_input(input, out);
    }
    let len = out.len() - p0;
    let sum = checksum(&out[p0..]);
    let h = &mut out[start..p0];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&FORMAT.to_le_bytes());
    h[6..8].copy_from_slice(&0u16.to_le_bytes());
    h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    h[12..20].copy_from_slice(&sum);
}

/// Decodes the record at the start of `bytes`; returns it and the bytes it took.
pub fn decode_record(bytes: &[u8]) -> Result<(TickRecord, usize), DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Truncated("frame header"));
    }
    if bytes[0..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let format = u16::from_le_bytes([bytes[4], bytes[5]]);
    let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(DecodeError::TooLong(len));
    }
    let Some(payload) = bytes.get(HEADER_LEN..HEADER_LEN + len) else {
        return Err(DecodeError::Truncated("payload"));
    };
    if checksum(payload) != bytes[12..20] {
        return Err(DecodeError::Checksum);
    }
    if format != FORMAT {
        return Err(DecodeError::Format(format));
    }
    if bytes[6..8] != [0, 0] {
        return Err(DecodeError::Invalid("reserved header bits set".into()));
    }
    let mut r = Reader(payload);
    let tick = r.u64()?;
    let prev_tick = r.u64()?;
    let state_hash = match r.u8()? {
        0 => None,
        1 => Some(r.array32()?),
        f => return Err(DecodeError::Invalid(format!("hash flag {f}"))),
    };
    let n = r.u32()?;
    let mut inputs = Vec::new();
    for _ in 0..n {
        inputs.push(decode_input(&mut r)?);
    }
    if !r.0.is_empty() {
        return Err(DecodeError::Invalid(format!(
            "{} bytes after the last input",
            r.0.len()
        )));
    }
    Ok((
        TickRecord {
            tick,
            prev_tick,
            state_hash,
            inputs,
        },
        HEADER_LEN + len,
    ))
}

fn encode_input(input: &JournalInput, out: &mut Vec<u8>) {
    match input {
        JournalInput::Command {
            player,
            request_id,
            command,
        } => {
            out.push(1);
            out.extend_from_slice(&player.0.to_le_bytes());
            out.extend_from_slice(&request_id.to_le_bytes());
            encode_command(command, out);
        }
        JournalInput::FoundCity { player } => {
            out.push(2);
            out.extend_from_slice(&player.0.to_le_bytes());
        }
        JournalInput::Alliance { player, alliance } => {
            out.push(3);
            out.extend_from_slice(&player.0.to_le_bytes());
            out.push(u8::from(alliance.is_some()));
            out.extend_from_slice(&alliance.unwrap_or(0).to_le_bytes());
        }
        JournalInput::Config { digest } => {
            out.push(4);
            out.extend_from_slice(digest);
        }
        JournalInput::Grant {
            player,
            grant,
            oldest_open,
            resources,
        } => {
            out.push(5);
            out.extend_from_slice(&player.0.to_le_bytes());
            out.extend_from_slice(&grant.to_le_bytes());
            out.extend_from_slice(&oldest_open.to_le_bytes());
            for r in resources.0 {
                out.extend_from_slice(&r.to_le_bytes());
            }
        }
    }
}

fn decode_input(r: &mut Reader<'_>) -> Result<JournalInput, DecodeError> {
    Ok(match r.u8()? {
        1 => JournalInput::Command {
            player: PlayerId(r.u64()?),
            request_id: r.u32()?,
            command: decode_command(r)?,
        },
        2 => JournalInput::FoundCity {
            player: PlayerId(r.u64()?),
        },
        3 => {
            let player = PlayerId(r.u64()?);
            let has = r.u8()?;
            let a = r.u64()?;
            JournalInput::Alliance {
                player,
                alliance: match has {
                    0 => None,
                    1 => Some(a),
                    f => return Err(DecodeError::Invalid(format!("alliance flag {f}"))),
                },
            }
        }
        4 => JournalInput::Config {
            digest: r.array32()?,
        },
        5 => JournalInput::Grant {
            player: PlayerId(r.u64()?),
            grant: r.u64()?,
            oldest_open: r.u64()?,
            resources: Resources([r.u64()?, r.u64()?, r.u64()?, r.u64()?]),
        },
        t => return Err(DecodeError::Invalid(format!("input tag {t}"))),
    })
}

/// Appends a command's bytes (also used to save the commands a tick left waiting).
pub fn encode_command(command: &Command, out: &mut Vec<u8>) {
    match command {
        Command::SendMarch {
            troops,
            target,
            mission,
        } => {
            out.push(1);
            out.extend_from_slice(&(troops.0.len() as u32).to_le_bytes());
            for c in &troops.0 {
                out.extend_from_slice(&c.to_le_bytes());
            }
            out.extend_from_slice(&target.0.to_le_bytes());
            out.push(match mission {
                Mission::Gather => 0,
                Mission::Attack => 1,
                Mission::Reinforce => 2,
                Mission::Scout => 3,
            });
        }
        Command::Recall { march } => {
            out.push(2);
            out.extend_from_slice(&march.0.to_le_bytes());
        }
        Command::RelocateCity { to } => {
            out.push(3);
            out.extend_from_slice(&to.x.to_le_bytes());
            out.extend_from_slice(&to.y.to_le_bytes());
        }
    }
}

fn decode_command(r: &mut Reader<'_>) -> Result<Command, DecodeError> {
    Ok(match r.u8()? {
        1 => {
            let n = r.u32()? as usize;
            if r.0.len() < n.saturating_mul(4) {
                return Err(DecodeError::Truncated("troops"));
            }
            let mut counts = Vec::with_capacity(n);
            for _ in 0..n {
                counts.push(r.u32()?);
            }
            let target = ObjectId(r.u64()?);
            let mission = match r.u8()? {
                0 => Mission::Gather,
                1 => Mission::Attack,
                2 => Mission::Reinforce,
                3 => Mission::Scout,
                m => return Err(DecodeError::Invalid(format!("mission {m}"))),
            };
            Command::SendMarch {
                troops: Troops(counts),
                target,
                mission,
            }
        }
        2 => Command::Recall {
            march: ObjectId(r.u64()?),
        },
        3 => {
            let x = r.u16()?;
            let y = r.u16()?;
            Command::RelocateCity {
                to: TilePos::new(x, y),
            }
        }
        t => return Err(DecodeError::Invalid(format!("command tag {t}"))),
    })
}

/// Encodes commands left waiting by a tick, with their sequence numbers (for the world meta).
pub fn encode_waiting(waiting: &[Submitted]) -> Vec<u8> {
    let mut out = Vec::with_capacity(waiting.len() * 48 + 4);
    out.extend_from_slice(&(waiting.len() as u32).to_le_bytes());
    for s in waiting {
        out.extend_from_slice(&s.seq.to_le_bytes());
        out.extend_from_slice(&s.player.0.to_le_bytes());
        out.extend_from_slice(&s.request_id.to_le_bytes());
        encode_command(&s.command, &mut out);
    }
    out
}

/// Decodes [`encode_waiting`]'s bytes.
pub fn decode_waiting(bytes: &[u8]) -> Result<Vec<Submitted>, DecodeError> {
    let mut r = Reader(bytes);
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Submitted {
            seq: r.u64()?,
            player: PlayerId(r.u64()?),
            request_id: r.u32()?,
            command: decode_command(&mut r)?,
        });
    }
    if !r.0.is_empty() {
        return Err(DecodeError::Invalid("bytes after the last command".into()));
    }
    Ok(out)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let Some((head, rest)) = self.0.split_first_chunk::<N>() else {
            return Err(DecodeError::Truncated(what));
        };
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>("u8")?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take("u16")?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take("u32")?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take("u64")?))
    }
    fn array32(&mut self) -> Result<[u8; 32], DecodeError> {
        self.take("digest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TickRecord {
        TickRecord {
            tick: 42,
            prev_tick: 40,
            state_hash: Some([7; 32]),
            inputs: vec![
                JournalInput::FoundCity {
                    player: PlayerId(u64::MAX),
                },
                JournalInput::Command {
                    player: PlayerId(3),
                    request_id: 9,
                    command: Command::SendMarch {
                        troops: Troops(vec![1, 0, u32::MAX]),
                        target: ObjectId(77),
                        mission: Mission::Scout,
                    },
                },
                JournalInput::Command {
                    player: PlayerId(3),
                    request_id: 10,
                    command: Command::Recall { march: ObjectId(5) },
                },
                JournalInput::Command {
                    player: PlayerId(4),
                    request_id: 0,
                    command: Command::RelocateCity {
                        to: TilePos::new(1199, 3),
                    },
                },
                JournalInput::Alliance {
                    player: PlayerId(4),
                    alliance: Some(12),
                },
                JournalInput::Alliance {
                    player: PlayerId(4),
                    alliance: None,
                },
                JournalInput::Config { digest: [9; 32] },
                JournalInput::Grant {
                    player: PlayerId(8),
                    grant: u64::MAX,
                    oldest_open: 3,
                    resources: Resources([1, 0, u64::MAX, 4]),
                },
            ],
        }
    }

    #[test]
    fn records_round_trip() {
        let mut bytes = Vec::new();
        encode_record(&sample(), &mut bytes);
        let (back, used) = decode_record(&bytes).expect("decode");
        assert_eq!(back, sample());
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_detected() {
        let mut bytes = Vec::new();
        encode_record(&sample(), &mut bytes);
        for cut in 0..bytes.len() {
            assert!(
                decode_record(&bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(decode_record(&b).is_err(), "flip at byte {i} accepted");
        }
    }

    #[test]
    fn waiting_commands_round_trip() {
        let waiting: Vec<Submitted> = sample()
            .inputs
            .into_iter()
            .enumerate()
            .filter_map(|(i, input)| match input {
                JournalInput::Command {
                    player,
                    request_id,
                    command,
                } => Some(Submitted {
                    seq: 100 + i as u64,
                    player,
                    request_id,
                    command,
                }),
                _ => None,
            })
            .collect();
        assert_eq!(waiting.len(), 3);
        let bytes = encode_waiting(&waiting);
        assert_eq!(decode_waiting(&bytes).expect("decode"), waiting);
        assert!(decode_waiting(&bytes[..bytes.len() - 1]).is_err());
    }
}
