//! `guilds.toml`: how large a guild may grow and what its name and tag may be. Read by the
//! guild service (the world only learns who is allied with whom).
//!
//! The file is optional: an assets folder without it gets [`GuildsConfig::default`], which
//! equals the shipped `assets/guilds.toml`. A file that is present is validated like every
//! other asset file.

use super::reader::FileReader;

/// `guilds.toml` as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildsConfig {
    /// Most members one guild holds (the leader included).
    pub member_cap: u32,
    /// Shortest name, in characters.
    pub name_min: u32,
    /// Longest name, in characters.
    pub name_max: u32,
    /// Shortest tag, in characters.
    pub tag_min: u32,
    /// Longest tag, in characters.
    pub tag_max: u32,
    /// Longest notice board text, in bytes.
    pub notice_max_bytes: u32,
    /// Most pending applications (and, separately, invitations) a guild keeps.
    pub pending_max: u32,
    /// Words no guild name or tag may be or contain as a word (case-insensitive).
    pub reserved: Vec<String>,
    /// Longest chat message, in bytes.
    pub chat_max_bytes: u32,
    /// Chat messages one member may send per minute (bursts of this many, refilled evenly).
    pub chat_per_minute: u32,
    /// Chat messages a guild's history keeps (older ones are deleted).
    pub chat_keep: u32,
}

impl Default for GuildsConfig {
    /// The values of the shipped `assets/guilds.toml`.
    fn default() -> Self {
        GuildsConfig {
            member_cap: 100,
            name_min: 3,
            name_max: 20,
            tag_min: 2,
            tag_max: 4,
            notice_max_bytes: 500,
            pending_max: 50,
            reserved: ["admin", "gm", "system", "dominion", "moderator", "official"]
                .map(str::to_owned)
                .to_vec(),
            chat_max_bytes: 500,
            chat_per_minute: 20,
            chat_keep: 200,
        }
    }
}

pub(crate) fn parse(r: &mut FileReader<'_>) -> Option<GuildsConfig> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    const KEYS: [&str; 11] = [
        "member_cap",
        "name_min",
        "name_max",
        "tag_min",
        "tag_max",
        "notice_max_bytes",
        "pending_max",
        "reserved",
        "chat_max_bytes",
        "chat_per_minute",
        "chat_keep",
    ];
    r.deny_unknown(root, &KEYS);
    let member_cap = r.int(root, "member_cap", 1..=10_000);
    let name_min = r.int(root, "name_min", 1..=64);
    let name_max = r.int(root, "name_max", 1..=64);
    let tag_min = r.int(root, "tag_min", 1..=16);
    let tag_max = r.int(root, "tag_max", 1..=16);
    let notice = r.int(root, "notice_max_bytes", 0..=10_000);
    let pending = r.int(root, "pending_max", 0..=10_000);
    let chat_max = r.int(root, "chat_max_bytes", 1..=10_000);
    let chat_rate = r.int(root, "chat_per_minute", 1..=6_000);
    let chat_keep = r.int(root, "chat_keep", 1..=100_000);
    let mut ok = true;
    for (min, max, what) in [
        (name_min, name_max, "name_max"),
        (tag_min, tag_max, "tag_max"),
    ] {
        if let (Some(a), Some(b)) = (min, max)
            && b < a
        {
            let line = r.line_of_key(root, what);
            r.push(
                line,
                what,
                format!("must be at least the minimum ({a}), not {b}"),
            );
            ok = false;
        }
    }
    let mut reserved = Vec::new();
    match root.inner.get("reserved").filter(|i| !i.is_none()) {
        None => {}
        Some(item) => match item.as_array() {
            Some(array) => {
                for v in array.iter() {
                    match v.as_str() {
                        Some(w) if !w.trim().is_empty() => reserved.push(w.trim().to_owned()),
                        _ => {
                            let line = r.line_of_key(root, "reserved");
                            r.push(line, "reserved", "expected a list of non-empty words");
                            ok = false;
                        }
                    }
                }
            }
            None => {
                let line = r.line_of_key(root, "reserved");
                r.push(
                    line,
                    "reserved",
                    format!("expected a list of words, found {}", item.type_name()),
                );
                ok = false;
            }
        },
    }
    let c = GuildsConfig {
        member_cap: member_cap? as u32,
        name_min: name_min? as u32,
        name_max: name_max? as u32,
        tag_min: tag_min? as u32,
        tag_max: tag_max? as u32,
        notice_max_bytes: notice? as u32,
        pending_max: pending? as u32,
        reserved,
        chat_max_bytes: chat_max? as u32,
        chat_per_minute: chat_rate? as u32,
        chat_keep: chat_keep? as u32,
    };
    ok.then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Option<GuildsConfig>, Vec<String>) {
        let mut r = FileReader::new("guilds.toml", text);
        let c = parse(&mut r);
        let errors = r.errors.iter().map(|e| e.to_string()).collect();
        (c, errors)
    }

    #[test]
    fn the_shipped_file_equals_the_defaults() {
        let text = include_str!("../../../assets/guilds.toml");
        let (c, errors) = read(text);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(c, Some(GuildsConfig::default()));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let (c, errors) = read(
            "member_cap = 0\nname_min = 3\nname_max = 2\ntag_min = 2\ntag_max = 4\n\
             notice_max_bytes = 10\npending_max = 1\nreserved = [1]\nchat_max_bytes = 5\n\
             chat_per_minute = 1\nchat_keep = 0\n",
        );
        assert_eq!(c, None);
        let all = errors.join("\n");
        assert!(
            all.contains("guilds.toml:1") && all.contains("member_cap"),
            "{all}"
        );
        assert!(
            all.contains("guilds.toml:3") && all.contains("name_max"),
            "{all}"
        );
        assert!(
            all.contains("guilds.toml:8") && all.contains("reserved"),
            "{all}"
        );
        assert!(
            all.contains("guilds.toml:11") && all.contains("chat_keep"),
            "{all}"
        );
    }
}
