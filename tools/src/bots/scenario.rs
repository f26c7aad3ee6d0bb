//! What one bot does, as pure, seeded logic: how it pans its viewport, which command it sends
//! next, and what it learns from the outcomes. No IO and no clock: the runner asks for the next
//! action and feeds back the replies, so a scenario replays exactly from `(seed, client index)`
//! and the same outcomes.
//!
//! The behaviour imitates a player on a phone: the viewport moves in small drags, sometimes jumps
//! across the map (a bookmark, a search) and sometimes zooms; commands are mostly marches
//! (gather, attack, scout, a few reinforcements) at objects the bot has seen (fields for
//! gathering, monsters, cities and marches for attacks...), recalls of its own marches, and now
//! and then a city relocation. Objects of unknown kind, then plausible ids, fill in when it has
//! seen nothing suitable.

use std::collections::VecDeque;
use std::time::Duration;

use dominion_net::proto::{CommandBody, CommandOutcome, SetViewport, limits};

use super::rng::Rng;

/// Relative weights of the command kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandMix {
    /// `SendMarch` (any mission).
    pub march: u32,
    /// `Recall` of one of the bot's own marches (a march is sent instead when none is out).
    pub recall: u32,
    /// `RelocateCity`.
    pub relocate: u32,
}

impl Default for CommandMix {
    fn default() -> Self {
        CommandMix {
            march: 60,
            recall: 25,
            relocate: 15,
        }
    }
}

/// Mission codes of [`CommandBody::SendMarch`], with their weights in the mix.
const MISSIONS: [(u8, u32); 4] = [(0, 40), (1, 35), (2, 10), (3, 15)];
/// Mission code of a scout (takes no troops).
const SCOUT: u8 = 3;
/// Unit type ids the default `units.toml` defines (infantry, archer, cavalry, siege).
const UNIT_TYPES: u16 = 4;
/// Viewport size at zoom 0 (a phone screen of tiles); each zoom level shows 1.5× more.
const BASE_VIEW: (f64, f64) = (24.0, 14.0);
/// Learned target ids a bot keeps (oldest forgotten first).
const MAX_KNOWN_TARGETS: usize = 256;
/// Own marches a bot tracks for recalls (the default queue limit is 5).
const MAX_OWN_MARCHES: usize = 16;

/// What a bot knows about a target id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A resource field (gather).
    Field,
    /// A monster (attack, scout).
    Monster,
    /// Another player's city (attack, scout, reinforce).
    City,
    /// Another player's march (attack, scout).
    March,
    /// Heard of (another bot's outcome), kind unknown.
    Unknown,
}

impl TargetKind {
    /// True if `mission` (wire code) may aim at this kind.
    pub fn suits(self, mission: u8) -> bool {
        match mission {
            0 => self == TargetKind::Field,
            1 => matches!(
                self,
                TargetKind::Monster | TargetKind::City | TargetKind::March
            ),
            2 => self == TargetKind::City,
            _ => self != TargetKind::Unknown,
        }
    }
}

/// Refusal codes the bot reacts to (see the root crate's `commands::refusal_code`).
mod refusal {
    pub const UNKNOWN_MARCH: u16 = 11;
    pub const NOT_YOUR_MARCH: u16 = 12;
    pub const ALREADY_RETURNING: u16 = 13;
    pub const TARGET_GONE: u16 = 20;
}

/// Settings shared by every bot of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioConfig {
    /// Run seed; bot `i` draws from [`Rng::for_client`]`(seed, i)`.
    pub seed: u64,
    /// Map width in tiles (viewports and relocations stay inside).
    pub map_width: u16,
    /// Map height in tiles.
    pub map_height: u16,
    /// Highest object id drawn when the bot knows no target ("plausible ids": the map's objects
    /// are numbered from 1 at generation).
    pub max_object_id: u64,
    /// Mean time between two commands of one bot (each gap is drawn from 0.5×..1.5× of it).
    pub command_interval: Duration,
    /// Mean time between two viewport changes of one bot.
    pub pan_interval: Duration,
    /// Command kind weights.
    pub mix: CommandMix,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            seed: 1,
            map_width: 1200,
            map_height: 1200,
            max_object_id: 20_000,
            command_interval: Duration::from_millis(2000),
            pan_interval: Duration::from_millis(1000),
            mix: CommandMix::default(),
        }
    }
}

/// One bot's state and decisions.
#[derive(Clone, Debug)]
pub struct Bot {
    config: ScenarioConfig,
    index: u64,
    rng: Rng,
    viewport: SetViewport,
    city: Option<(u16, u16)>,
    own_marches: VecDeque<u64>,
    known_targets: VecDeque<(u64, TargetKind)>,
}

impl Bot {
    /// Bot number `index` of a run (its openid is [`Bot::openid`]).
    pub fn new(config: &ScenarioConfig, index: u64) -> Bot {
        let mut rng = Rng::for_client(config.seed, index);
        let zoom = rng.between(0, 2) as u8;
        let (w, h) = view_size(zoom);
        let mut bot = Bot {
            config: config.clone(),
            index,
            viewport: SetViewport {
                x: 0,
                y: 0,
                w,
                h,
                zoom,
            },
            rng,
            city: None,
            own_marches: VecDeque::new(),
            known_targets: VecDeque::new(),
        };
        let (cx, cy) = bot.random_tile();
        bot.center_on(cx, cy);
        bot
    }

    /// The platform account id this bot logs in with: `bot-<seed>-<index>`.
    pub fn openid(&self) -> String {
        format!("bot-{}-{}", self.config.seed, self.index)
    }

    /// The current viewport.
    pub fn viewport(&self) -> SetViewport {
        self.viewport
    }

    /// The bot's city tile, once a relocation told it.
    pub fn city(&self) -> Option<(u16, u16)> {
        self.city
    }

    /// The bot's marches believed to be out, oldest first.
    pub fn own_marches(&self) -> impl Iterator<Item = u64> + '_ {
        self.own_marches.iter().copied()
    }

    /// Target ids the bot has learned, oldest first.
    pub fn known_targets(&self) -> impl Iterator<Item = u64> + '_ {
        self.known_targets.iter().map(|&(id, _)| id)
    }

    /// Learned targets with their kinds, oldest first.
    pub fn known_objects(&self) -> impl Iterator<Item = (u64, TargetKind)> + '_ {
        self.known_targets.iter().copied()
    }

    /// Delay before the first command: spread over one interval so bots that connected
    /// together do not fire together.
    pub fn first_command_delay(&mut self) -> Duration {
        scale(self.config.command_interval, self.rng.unit())
    }

    /// Delay until the next command (0.5×..1.5× the configured interval).
    pub fn next_command_delay(&mut self) -> Duration {
        scale(self.config.command_interval, 0.5 + self.rng.unit())
    }

    /// Delay until the next viewport change (0.5×..1.5× the configured interval).
    pub fn next_pan_delay(&mut self) -> Duration {
        scale(self.config.pan_interval, 0.5 + self.rng.unit())
    }

    /// Remembers an object id of unknown kind as a possible target (from other bots' outcomes).
    /// The bot's own marches are not targets.
    pub fn learn_target(&mut self, id: u64) {
        self.learn_object(id, TargetKind::Unknown);
    }

    /// Remembers an object seen in the bot's view (from world deltas). A known id keeps its
    /// place; its kind is updated unless the new one is [`TargetKind::Unknown`].
    pub fn learn_object(&mut self, id: u64, kind: TargetKind) {
        if id == 0 || self.own_marches.contains(&id) {
            return;
        }
        if let Some(known) = self.known_targets.iter_mut().find(|(k, _)| *k == id) {
            if kind != TargetKind::Unknown {
                known.1 = kind;
            }
            return;
        }
        if self.known_targets.len() == MAX_KNOWN_TARGETS {
            self.known_targets.pop_front();
        }
        self.known_targets.push_back((id, kind));
    }

    /// Sets the bot's city tile (seen in its view, or after a relocation).
    pub fn set_home(&mut self, x: u16, y: u16) {
        self.city = Some((x, y));
    }

    /// Moves the viewport: mostly a small drag, sometimes a jump across the map or home, sometimes
    /// a zoom step (keeping the centre). Returns the new viewport to send.
    pub fn next_pan(&mut self) -> SetViewport {
        let vp = self.viewport;
        let (cx, cy) = (vp.x + vp.w / 2, vp.y + vp.h / 2);
        match self.rng.weighted(&[75, 12, 13]) {
            Some(0) => {
                let dx = self.drag(vp.w);
                let dy = self.drag(vp.h);
                let nx = (i64::from(cx) + dx).max(0) as u16;
                let ny = (i64::from(cy) + dy).max(0) as u16;
                self.center_on(nx, ny);
            }
            Some(1) => {
                let (x, y) = match self.city {
                    Some(home) if self.rng.chance(0.4) => home,
                    _ => self.random_tile(),
                };
                self.center_on(x, y);
            }
            _ => {
                let zoom = if vp.zoom == 0 {
                    1
                } else if vp.zoom >= limits::MAX_ZOOM || self.rng.chance(0.5) {
                    vp.zoom - 1
                } else {
                    vp.zoom + 1
                };
                let (w, h) = view_size(zoom);
                self.viewport.zoom = zoom;
                self.viewport.w = w.min(self.config.map_width.max(1));
                self.viewport.h = h.min(self.config.map_height.max(1));
                self.center_on(cx, cy);
            }
        }
        self.viewport
    }

    /// The next command to send.
    pub fn next_command(&mut self) -> CommandBody {
        let mix = self.config.mix;
        match self.rng.weighted(&[mix.march, mix.recall, mix.relocate]) {
            Some(1) if !self.own_marches.is_empty() => {
                let i = self.rng.below(self.own_marches.len() as u64) as usize;
                CommandBody::Recall {
                    march_id: self.own_marches[i],
                }
            }
            Some(2) => {
                let (x, y) = match self.city {
                    Some((x, y)) if self.rng.chance(0.7) => {
                        let nx = i64::from(x) + self.rng.between(0, 40) as i64 - 20;
                        let ny = i64::from(y) + self.rng.between(0, 40) as i64 - 20;
                        (
                            nx.clamp(0, i64::from(self.config.map_width) - 1) as u16,
                            ny.clamp(0, i64::from(self.config.map_height) - 1) as u16,
                        )
                    }
                    _ => self.random_tile(),
                };
                CommandBody::RelocateCity { x, y }
            }
            _ => self.send_march(),
        }
    }

    /// Learns from the outcome of `sent`: new marches to recall later, marches that are gone,
    /// the city's new tile, targets that no longer exist.
    pub fn observe(&mut self, sent: &CommandBody, outcome: &CommandOutcome) {
        match outcome {
            CommandOutcome::MarchSent { march_id, .. } => {
                if self.own_marches.len() == MAX_OWN_MARCHES {
                    self.own_marches.pop_front();
                }
                self.own_marches.push_back(*march_id);
                self.known_targets.retain(|&(t, _)| t != *march_id);
            }
            CommandOutcome::Recalled { march_id, .. } => self.forget_march(*march_id),
            CommandOutcome::Relocated { x, y, .. } => {
                self.city = Some((*x, *y));
            }
            CommandOutcome::Refused { reason_code, .. } => match (sent, *reason_code) {
                (
                    CommandBody::Recall { march_id },
                    refusal::UNKNOWN_MARCH | refusal::NOT_YOUR_MARCH | refusal::ALREADY_RETURNING,
                ) => self.forget_march(*march_id),
                (CommandBody::SendMarch { target, .. }, refusal::TARGET_GONE) => {
                    self.known_targets.retain(|(t, _)| t != target);
                }
                _ => {}
            },
        }
    }

    fn forget_march(&mut self, id: u64) {
        self.own_marches.retain(|&m| m != id);
    }

    fn send_march(&mut self) -> CommandBody {
        let weights: Vec<u32> = MISSIONS.iter().map(|&(_, w)| w).collect();
        let mission = MISSIONS[self.rng.weighted(&weights).unwrap_or(0)].0;
        // Something seen that suits the mission; else something heard of; else a plausible id.
        let suitable = self.pick_known(|k| k.suits(mission));
        let target = match suitable {
            Some(id) if self.rng.chance(0.9) => id,
            _ => match self.pick_known(|k| k == TargetKind::Unknown) {
                Some(id) if self.rng.chance(0.6) => id,
                _ => self.rng.between(1, self.config.max_object_id.max(1)),
            },
        };
        let troops = if mission == SCOUT {
            Vec::new()
        } else {
            let kinds = self.rng.between(1, 3) as usize;
            let mut units: Vec<u16> = (0..UNIT_TYPES).collect();
            let mut troops = Vec::with_capacity(kinds);
            for _ in 0..kinds {
                let unit = units.swap_remove(self.rng.below(units.len() as u64) as usize);
                troops.push((unit, self.rng.between(2, 30) as u32 * 50));
            }
            troops
        };
        CommandBody::SendMarch {
            troops,
            target,
            mission,
        }
    }

    /// A random learned target whose kind passes `filter`.
    fn pick_known(&mut self, filter: impl Fn(TargetKind) -> bool) -> Option<u64> {
        let n = self
            .known_targets
            .iter()
            .filter(|(_, k)| filter(*k))
            .count();
        if n == 0 {
            return None;
        }
        let i = self.rng.below(n as u64) as usize;
        self.known_targets
            .iter()
            .filter(|(_, k)| filter(*k))
            .nth(i)
            .map(|&(id, _)| id)
    }

    /// A drag of up to a quarter of the span, either way, never zero.
    fn drag(&mut self, span: u16) -> i64 {
        let reach = u64::from((span / 4).max(1));
        let step = self.rng.between(1, reach) as i64;
        if self.rng.chance(0.5) { step } else { -step }
    }

    fn random_tile(&mut self) -> (u16, u16) {
        (
            self.rng.below(u64::from(self.config.map_width.max(1))) as u16,
            self.rng.below(u64::from(self.config.map_height.max(1))) as u16,
        )
    }

    /// Puts the viewport's centre on `(x, y)`, keeping it inside the map.
    fn center_on(&mut self, x: u16, y: u16) {
        let vp = &mut self.viewport;
        let max_x = self.config.map_width.saturating_sub(vp.w);
        let max_y = self.config.map_height.saturating_sub(vp.h);
        vp.x = x.saturating_sub(vp.w / 2).min(max_x);
        vp.y = y.saturating_sub(vp.h / 2).min(max_y);
    }
}

/// Viewport size in tiles at `zoom` (capped by the protocol's span limit).
fn view_size(zoom: u8) -> (u16, u16) {
    let f = 1.5f64.powi(i32::from(zoom));
    let cap = f64::from(limits::MAX_VIEWPORT_SPAN);
    (
        (BASE_VIEW.0 * f).round().min(cap) as u16,
        (BASE_VIEW.1 * f).round().min(cap) as u16,
    )
}

fn scale(d: Duration, factor: f64) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScenarioConfig {
        ScenarioConfig {
            seed: 42,
            map_width: 200,
            map_height: 150,
            max_object_id: 5000,
            ..ScenarioConfig::default()
        }
    }

    /// A scripted run: pans and commands with fake outcomes fed back, as the runner does.
    fn script(config: &ScenarioConfig, index: u64) -> Vec<String> {
        let mut bot = Bot::new(config, index);
        let mut log = vec![format!("{:?}", bot.viewport())];
        for step in 0..200u64 {
            log.push(format!("{:?}", bot.next_pan()));
            let cmd = bot.next_command();
            let outcome = match &cmd {
                CommandBody::SendMarch { .. } if step % 3 == 0 => CommandOutcome::Refused {
                    reason_code: refusal::TARGET_GONE,
                    message: "gone".into(),
                },
                CommandBody::SendMarch { .. } => CommandOutcome::MarchSent {
                    march_id: 100_000 + step,
                    arrival_tick: step,
                },
                CommandBody::Recall { march_id } => CommandOutcome::Recalled {
                    march_id: *march_id,
                    arrival_tick: step,
                },
                CommandBody::RelocateCity { x, y } => CommandOutcome::Relocated {
                    city_id: 9,
                    x: *x,
                    y: *y,
                },
            };
            bot.observe(&cmd, &outcome);
            if step % 10 == 0 {
                bot.learn_target(50_000 + step);
            }
            log.push(format!("{cmd:?} {:?}", bot.next_command_delay()));
        }
        log
    }

    #[test]
    fn the_same_seed_replays_the_same_actions() {
        let c = config();
        assert_eq!(script(&c, 3), script(&c, 3));
        assert_ne!(script(&c, 3), script(&c, 4), "bots of one run differ");
        let other_seed = ScenarioConfig {
            seed: 43,
            ..c.clone()
        };
        assert_ne!(
            script(&c, 3),
            script(&other_seed, 3),
            "runs with other seeds differ"
        );
        assert_eq!(Bot::new(&c, 3).openid(), "bot-42-3");
    }

    #[test]
    fn viewports_stay_valid_and_inside_the_map() {
        let c = config();
        let mut bot = Bot::new(&c, 1);
        let mut zooms = std::collections::BTreeSet::new();
        let mut moves = 0;
        let mut prev = bot.viewport();
        for _ in 0..5000 {
            let vp = bot.next_pan();
            assert!(vp.w >= 1 && vp.w <= limits::MAX_VIEWPORT_SPAN, "{vp:?}");
            assert!(vp.h >= 1 && vp.h <= limits::MAX_VIEWPORT_SPAN, "{vp:?}");
            assert!(vp.zoom <= limits::MAX_ZOOM, "{vp:?}");
            assert!(u32::from(vp.x) + u32::from(vp.w) <= 200, "{vp:?}");
            assert!(u32::from(vp.y) + u32::from(vp.h) <= 150, "{vp:?}");
            zooms.insert(vp.zoom);
            if vp != prev {
                moves += 1;
            }
            prev = vp;
        }
        assert!(
            zooms.len() >= 4,
            "zoom changes reach several levels: {zooms:?}"
        );
        // On this small map a zoomed-out view covers the whole map and cannot move.
        assert!(moves > 3500, "most pans move the view: {moves}");
    }

    #[test]
    fn command_mix_follows_the_weights_and_rules() {
        let c = config();
        let mut bot = Bot::new(&c, 2);
        let (mut marches, mut recalls, mut relocations, mut scouts) = (0, 0, 0, 0);
        for step in 0..3000u64 {
            let cmd = bot.next_command();
            match &cmd {
                CommandBody::SendMarch {
                    troops,
                    target,
                    mission,
                } => {
                    marches += 1;
                    assert!(*mission <= 3);
                    assert!((1..=5000).contains(target) || *target >= 50_000, "{target}");
                    if *mission == SCOUT {
                        scouts += 1;
                        assert!(troops.is_empty());
                    } else {
                        assert!((1..=3).contains(&troops.len()), "{troops:?}");
                        let mut units: Vec<u16> = troops.iter().map(|t| t.0).collect();
                        units.sort_unstable();
                        units.dedup();
                        assert_eq!(units.len(), troops.len(), "no unit twice: {troops:?}");
                        assert!(troops.iter().all(|&(u, n)| u < UNIT_TYPES && n >= 100));
                    }
                    bot.observe(
                        &cmd,
                        &CommandOutcome::MarchSent {
                            march_id: 90_000 + step,
                            arrival_tick: 0,
                        },
                    );
                }
                CommandBody::Recall { march_id } => {
                    recalls += 1;
                    assert!(*march_id >= 90_000, "recalls only its own marches");
                    bot.observe(
                        &cmd,
                        &CommandOutcome::Recalled {
                            march_id: *march_id,
                            arrival_tick: 0,
                        },
                    );
                }
                CommandBody::RelocateCity { x, y } => {
                    relocations += 1;
                    assert!(*x < 200 && *y < 150);
                }
            }
        }
        // 60/25/15 weights; a recall with no march out becomes a march.
        assert!((1500..2100).contains(&marches), "{marches}");
        assert!((550..900).contains(&recalls), "{recalls}");
        assert!((330..570).contains(&relocations), "{relocations}");
        assert!(scouts > 0);
    }

    #[test]
    fn outcomes_update_what_the_bot_knows() {
        let c = config();
        let mut bot = Bot::new(&c, 5);
        let send = CommandBody::SendMarch {
            troops: vec![(0, 100)],
            target: 77,
            mission: 1,
        };
        bot.observe(
            &send,
            &CommandOutcome::MarchSent {
                march_id: 500,
                arrival_tick: 10,
            },
        );
        bot.observe(
            &send,
            &CommandOutcome::MarchSent {
                march_id: 501,
                arrival_tick: 10,
            },
        );
        assert_eq!(bot.own_marches().collect::<Vec<_>>(), [500, 501]);
        // Recalled, or refused as unknown: no longer ours to recall.
        bot.observe(
            &CommandBody::Recall { march_id: 500 },
            &CommandOutcome::Recalled {
                march_id: 500,
                arrival_tick: 20,
            },
        );
        bot.observe(
            &CommandBody::Recall { march_id: 501 },
            &CommandOutcome::Refused {
                reason_code: refusal::UNKNOWN_MARCH,
                message: "gone".into(),
            },
        );
        assert_eq!(bot.own_marches().count(), 0);
        // Targets: learned once, own marches excluded, forgotten when gone.
        bot.learn_target(77);
        bot.learn_target(77);
        bot.learn_target(0);
        assert_eq!(bot.known_targets().collect::<Vec<_>>(), [77]);
        bot.observe(
            &send,
            &CommandOutcome::Refused {
                reason_code: refusal::TARGET_GONE,
                message: "gone".into(),
            },
        );
        assert_eq!(bot.known_targets().count(), 0);
        for id in 1..=(MAX_KNOWN_TARGETS as u64 + 10) {
            bot.learn_target(id);
        }
        assert_eq!(bot.known_targets().count(), MAX_KNOWN_TARGETS);
        assert_eq!(
            bot.known_targets().next(),
            Some(11),
            "oldest forgotten first"
        );
        // A relocation tells the city tile.
        bot.observe(
            &CommandBody::RelocateCity { x: 12, y: 34 },
            &CommandOutcome::Relocated {
                city_id: 3,
                x: 12,
                y: 34,
            },
        );
        assert_eq!(bot.city(), Some((12, 34)));
    }

    #[test]
    fn marches_aim_at_seen_objects_that_suit_the_mission() {
        let c = ScenarioConfig {
            mix: CommandMix {
                march: 1,
                recall: 0,
                relocate: 0,
            },
            ..config()
        };
        let mut bot = Bot::new(&c, 8);
        bot.learn_object(10, TargetKind::Field);
        bot.learn_object(11, TargetKind::Monster);
        bot.learn_object(12, TargetKind::City);
        bot.learn_target(12); // already known as a city: stays a city
        assert_eq!(
            bot.known_objects().collect::<Vec<_>>(),
            [
                (10, TargetKind::Field),
                (11, TargetKind::Monster),
                (12, TargetKind::City)
            ]
        );
        let (mut suited, mut total) = (0, 0);
        for _ in 0..2000 {
            let CommandBody::SendMarch {
                target, mission, ..
            } = bot.next_command()
            else {
                panic!("only marches in this mix");
            };
            total += 1;
            let kind = match target {
                10 => TargetKind::Field,
                11 => TargetKind::Monster,
                12 => TargetKind::City,
                _ => continue,
            };
            assert!(kind.suits(mission), "{target} for mission {mission}");
            suited += 1;
        }
        // 90 % aim at a suitable seen object; the rest at plausible ids.
        assert!(suited > total * 85 / 100, "{suited} of {total}");
        bot.set_home(5, 6);
        assert_eq!(bot.city(), Some((5, 6)));
    }

    #[test]
    fn delays_spread_around_the_interval() {
        let c = config();
        let mut bot = Bot::new(&c, 0);
        for _ in 0..1000 {
            let d = bot.next_command_delay();
            assert!(d >= Duration::from_millis(1000) && d <= Duration::from_millis(3000));
            let p = bot.next_pan_delay();
            assert!(p >= Duration::from_millis(500) && p <= Duration::from_millis(1500));
            assert!(bot.first_command_delay() <= Duration::from_millis(2000));
        }
    }
}
