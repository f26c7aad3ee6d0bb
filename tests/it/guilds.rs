//! Guilds over real QUIC against a real `dominion serve`: a guild's whole life (create, invite,
//! apply, accept, promote, kick, transfer, notice, leave, disband) with pushes to the members,
//! refusals that name their rule, the world's alliances following every change (and a
//! restart), and two players racing for the last slot.

use std::time::{Duration, Instant};

use dominion_net::client::{Client, ClientError, ClientOptions};
use dominion_net::proto::{GuildActionWire as A, GuildWire, Login, ServerMessage};
use dominion_net::transport::tls::Fingerprint;
use dominion_tools::admin::AdminClient;
use tokio::sync::mpsc::Receiver;

use crate::admin::{TOKEN, admin_addr, token_file};
use crate::support::{runtime, small_asset_files, start_game_server, write_assets};

struct Player {
    id: u64,
    client: Client,
    pushes: Receiver<ServerMessage>,
}

async fn join(addr: std::net::SocketAddr, fp: Fingerprint, openid: &str) -> Player {
    let (client, pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
    let ok = client
        .login(Login {
            openid: openid.into(),
            platform_token: "dev".into(),
            client_version: "test".into(),
        })
        .await
        .unwrap();
    Player {
        id: ok.player_id,
        client,
        pushes,
    }
}

/// The next guild push, skipping world and own-state pushes.
async fn guild_push(p: &mut Player) -> dominion_net::proto::GuildPush {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match p.pushes.recv().await {
                Some(ServerMessage::GuildPush(g)) => break g,
                Some(_) => continue,
                None => panic!("push channel closed"),
            }
        }
    })
    .await
    .expect("a guild push")
}

/// A guild request, retried as the server asks while the player's request budget is spent
/// (the permission matrix sends hundreds).
async fn guild(p: &Player, action: A) -> Result<Option<GuildWire>, ClientError> {
    loop {
        match p.client.guild(action.clone()).await {
            Err(ClientError::Server { code, .. })
                if code == dominion_net::proto::ErrorCode::RATE_LIMITED.0 =>
            {
                tokio::time::sleep(Duration::from_millis(60)).await
            }
            other => return other,
        }
    }
}

async fn refused(p: &Player, action: A) -> String {
    match guild(p, action.clone()).await {
        Err(ClientError::Server { code, message }) => {
            assert_eq!(code, dominion::guild::codes::GUILD_REFUSED.0, "{message}");
            message
        }
        other => panic!("{action:?} by {}: expected a refusal, got {other:?}", p.id),
    }
}

async fn done(p: &Player, action: A) -> Option<GuildWire> {
    guild(p, action.clone())
        .await
        .unwrap_or_else(|e| panic!("{action:?} by {}: {e}", p.id))
}

/// Waits until the world says `player`'s alliance is `want`.
async fn alliance_becomes(admin: &AdminClient, player: u64, want: Option<u64>) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let a = admin.get(&format!("/v1/players/{player}")).await.unwrap();
        if a.status == 200 && a.body["alliance"].as_u64() == want {
            return;
        }
        assert!(
            Instant::now() < end,
            "player {player}'s alliance in the world stayed {:?}, expected {want:?}",
            a.body["alliance"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn role_of(g: &GuildWire, player: u64) -> Option<u8> {
    g.members
        .iter()
        .find(|m| m.player == player)
        .map(|m| m.role)
}

#[test]
fn a_guild_lives_through_invites_roles_kicks_a_restart_and_disbanding() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let tf = tokens.to_str().unwrap();
    let (mut server, addr, fp) = start_game_server(dir.path(), &["--admin-token-file", tf]);
    let admin_at = admin_addr(&mut server);
    let rt = runtime();
    let (guild, bob_id, ann_id) = rt.block_on(async {
        let admin = AdminClient::new(admin_at, TOKEN);
        let mut ann = join(addr, fp, "ann").await;
        let mut bob = join(addr, fp, "bob").await;
        let mut cid = join(addr, fp, "cid").await;
        let dan = join(addr, fp, "dan").await;

        let g = done(
            &ann,
            A::Create {
                name: "Night Watch".into(),
                tag: "NW".into(),
            },
        )
        .await
        .expect("the new guild");
        assert_eq!((g.name.as_str(), g.tag.as_str()), ("Night Watch", "NW"));
        assert_eq!(role_of(&g, ann.id), Some(0));
        assert_eq!(g.member_cap, 100);
        let gid = g.id;
        alliance_becomes(&admin, ann.id, Some(gid)).await;
        let taken = refused(
            &dan,
            A::Create {
                name: "NIGHT WATCH".into(),
                tag: "DW".into(),
            },
        )
        .await;
        assert_eq!(taken, "a guild named \"NIGHT WATCH\" already exists");

        // Invite → the invitee hears of it and accepts; the members hear of the join.
        let g = done(&ann, A::Invite { player: bob.id }).await.unwrap();
        assert_eq!(g.invited, vec![bob.id]);
        let p = guild_push(&mut bob).await;
        assert_eq!((p.guild_id, p.by), (gid, ann.id));
        assert!(p.guild.is_none(), "not a member yet");
        let g = done(&bob, A::AcceptInvite { guild: gid }).await.unwrap();
        assert_eq!(role_of(&g, bob.id), Some(2));
        assert!(g.invited.is_empty(), "a member sees no pending lists");
        let p = guild_push(&mut ann).await;
        assert_eq!(p.what, format!("player {} joined", bob.id));
        alliance_becomes(&admin, bob.id, Some(gid)).await;

        // Apply → accepted by the leader.
        assert!(done(&cid, A::Apply { guild: gid }).await.is_none());
        assert_eq!(
            refused(&cid, A::Apply { guild: gid }).await,
            "you have already applied to that guild"
        );
        let g = done(&ann, A::AcceptApplicant { player: cid.id })
            .await
            .unwrap();
        assert_eq!(g.members.len(), 3);
        alliance_becomes(&admin, cid.id, Some(gid)).await;

        // What each role may not do, answered with the rule.
        for (who, action, why) in [
            (&cid, A::Disband, "only the leader may disband the guild"),
            (
                &cid,
                A::Invite { player: dan.id },
                "only officers and the leader may invite",
            ),
            (
                &cid,
                A::Kick { player: bob.id },
                "only officers and the leader may kick members",
            ),
            (
                &cid,
                A::EditNotice { text: "x".into() },
                "only officers and the leader may edit the notice",
            ),
            (
                &cid,
                A::SetRole {
                    player: bob.id,
                    role: 1,
                },
                "only the leader may promote or demote members",
            ),
            (
                &cid,
                A::Transfer { player: bob.id },
                "only the leader may transfer the leadership",
            ),
            (&dan, A::Invite { player: cid.id }, "you are not in a guild"),
            (&dan, A::Leave, "you are not in a guild"),
            (
                &ann,
                A::Leave,
                "the leader cannot leave while others remain: transfer the leadership or disband",
            ),
            (
                &ann,
                A::Invite { player: cid.id },
                "that player is already in guild [NW]",
            ),
        ] {
            assert_eq!(refused(who, action).await, why);
        }

        // Promote, then the officer kicks a member; the kicked player is told and unallied.
        let g = done(
            &ann,
            A::SetRole {
                player: bob.id,
                role: 1,
            },
        )
        .await
        .unwrap();
        assert_eq!(role_of(&g, bob.id), Some(1));
        assert_eq!(
            refused(&bob, A::Kick { player: ann.id }).await,
            "the leader cannot be kicked (the leader may hand the lead over with transfer)"
        );
        let g = done(&bob, A::Kick { player: cid.id }).await.unwrap();
        assert_eq!(role_of(&g, cid.id), None);
        loop {
            let p = guild_push(&mut cid).await;
            if p.guild.is_none() && p.what.contains("was removed") {
                assert_eq!(
                    p.what,
                    format!("player {} was removed by player {}", cid.id, bob.id)
                );
                break;
            }
        }
        alliance_becomes(&admin, cid.id, None).await;

        // Transfer the lead, edit the notice, the old leader leaves.
        let g = done(&ann, A::Transfer { player: bob.id }).await.unwrap();
        assert_eq!(
            (role_of(&g, bob.id), role_of(&g, ann.id)),
            (Some(0), Some(1))
        );
        done(
            &bob,
            A::EditNotice {
                text: "wall duty at 20:00".into(),
            },
        )
        .await;
        assert!(done(&ann, A::Leave).await.is_none());
        alliance_becomes(&admin, ann.id, None).await;
        // Show and Find read without changing anything.
        let shown = done(
            &dan,
            A::Find {
                name_or_tag: "nw".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(shown.notice, "wall duty at 20:00");
        assert_eq!(shown.members.len(), 1);
        (gid, bob.id, ann.id)
    });

    // Everything survives a restart: the guild, its notice and the world's alliances.
    let (status, lines) = server.terminate();
    assert!(status.success(), "{lines:#?}");
    let (mut server, addr, fp) = start_game_server(dir.path(), &["--admin-token-file", tf]);
    let admin_at = admin_addr(&mut server);
    rt.block_on(async {
        let admin = AdminClient::new(admin_at, TOKEN);
        let bob = join(addr, fp, "bob").await;
        assert_eq!(bob.id, bob_id);
        let g = done(&bob, A::Show { guild: 0 }).await.unwrap();
        assert_eq!(g.id, guild);
        assert_eq!(g.notice, "wall duty at 20:00");
        assert_eq!(role_of(&g, bob_id), Some(0));
        alliance_becomes(&admin, bob_id, Some(guild)).await;
        alliance_becomes(&admin, ann_id, None).await;

        // Disbanding frees everyone and the name.
        assert!(done(&bob, A::Disband).await.is_none());
        alliance_becomes(&admin, bob_id, None).await;
        assert!(done(&bob, A::Show { guild: 0 }).await.is_none());
        match bob.client.guild(A::Show { guild }).await {
            Err(ClientError::Server { code, .. }) => {
                assert_eq!(code, dominion::guild::codes::GUILD_NOT_FOUND.0)
            }
            other => panic!("a disbanded guild: {other:?}"),
        }
        done(
            &bob,
            A::Create {
                name: "Night Watch".into(),
                tag: "NW".into(),
            },
        )
        .await
        .expect("the name is free again");
    });
    let (status, lines) = server.terminate();
    assert!(status.success(), "{lines:#?}");
}

#[test]
fn two_players_racing_for_the_last_slot_exactly_one_gets_in_and_a_raised_cap_applies_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = small_asset_files(200);
    let guilds = files
        .get_mut("guilds.toml")
        .expect("guilds.toml is shipped");
    *guilds = guilds.replace("member_cap = 100", "member_cap = 2");
    write_assets(&dir.path().join("assets"), &files);
    let (mut server, addr, fp) = start_game_server(dir.path(), &[]);
    let rt = runtime();
    let (lead, x, y, gid) = rt.block_on(async {
        let lead = join(addr, fp, "lead").await;
        let x = join(addr, fp, "x").await;
        let y = join(addr, fp, "y").await;
        let g = done(
            &lead,
            A::Create {
                name: "Two Only".into(),
                tag: "TWO".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(g.member_cap, 2);
        done(&lead, A::Invite { player: x.id }).await;
        done(&lead, A::Invite { player: y.id }).await;
        let (rx, ry) = tokio::join!(
            x.client.guild(A::AcceptInvite { guild: g.id }),
            y.client.guild(A::AcceptInvite { guild: g.id })
        );
        let results = [rx, ry];
        let ins = results.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        assert_eq!(ins, 1, "{results:?}");
        let full = results
            .iter()
            .find_map(|r| match r {
                Err(ClientError::Server { message, .. }) => Some(message.clone()),
                _ => None,
            })
            .expect("the other is refused");
        assert_eq!(full, "the guild is full (2/2)");
        let g = done(&lead, A::Show { guild: 0 }).await.unwrap();
        assert_eq!(g.members.len(), 2);
        (lead, x, y, g.id)
    });

    // A designer raises the cap in the running server's guilds.toml: it applies at once.
    *files.get_mut("guilds.toml").unwrap() =
        files["guilds.toml"].replace("member_cap = 2", "member_cap = 3");
    write_assets(&dir.path().join("assets"), &files);
    server.wait_for("config version 2 applied", Duration::from_secs(30));
    rt.block_on(async {
        let end = Instant::now() + Duration::from_secs(10);
        let late = if done(&lead, A::Show { guild: gid })
            .await
            .unwrap()
            .members
            .iter()
            .any(|m| m.player == x.id)
        {
            &y
        } else {
            &x
        };
        let g = loop {
            // The new limits reach the guild service right after the tick applied them.
            match guild(late, A::AcceptInvite { guild: gid }).await {
                Ok(g) => break g.unwrap(),
                Err(ClientError::Server { message, .. })
                    if message == "the guild is full (2/2)" && Instant::now() < end =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!((g.members.len(), g.member_cap), (3, 3));
    });
    let (status, _) = server.terminate();
    assert!(status.success());
}

/// The next chat push, skipping everything else.
async fn chat_push(p: &mut Player) -> dominion_net::proto::GuildChatPage {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match p.pushes.recv().await {
                Some(ServerMessage::GuildChatPage(c)) => break c,
                Some(_) => continue,
                None => panic!("push channel closed"),
            }
        }
    })
    .await
    .expect("a chat push")
}

#[test]
fn guild_chat_reaches_the_members_pages_back_limits_floods_and_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = small_asset_files(200);
    let guilds = files
        .get_mut("guilds.toml")
        .expect("guilds.toml is shipped");
    *guilds = guilds
        .replace("chat_per_minute = 20", "chat_per_minute = 6")
        .replace("chat_keep = 200", "chat_keep = 4")
        .replace("chat_max_bytes = 500", "chat_max_bytes = 40");
    write_assets(&dir.path().join("assets"), &files);
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    let rt = runtime();
    let gid = rt.block_on(async {
        let ann = join(addr, fp, "ann").await;
        let mut bob = join(addr, fp, "bob").await;
        let out = join(addr, fp, "out").await;
        let g = done(
            &ann,
            A::Create {
                name: "Chatters".into(),
                tag: "CH".into(),
            },
        )
        .await
        .unwrap();
        done(&ann, A::Invite { player: bob.id }).await;
        done(&bob, A::AcceptInvite { guild: g.id }).await;

        let sent = ann.client.guild_chat("rally at the pass").await.unwrap();
        assert_eq!((sent.id, sent.from), (1, ann.id));
        let pushed = chat_push(&mut bob).await;
        assert_eq!(pushed.guild_id, g.id);
        assert_eq!(pushed.messages, vec![sent.clone()]);

        // Limits: length, emptiness, outsiders, and a flood.
        for (who, text, code, why) in [
            (
                &ann,
                "x".repeat(41),
                dominion::guild::codes::GUILD_REFUSED.0,
                "the message is 41 bytes, at most 40",
            ),
            (
                &ann,
                "   ".to_owned(),
                dominion::guild::codes::GUILD_REFUSED.0,
                "a chat message may not be empty",
            ),
            (
                &out,
                "hello".to_owned(),
                dominion::guild::codes::GUILD_REFUSED.0,
                "you are not in a guild",
            ),
        ] {
            match who.client.guild_chat(text).await {
                Err(ClientError::Server { code: c, message }) => {
                    assert_eq!((c, message.as_str()), (code, why))
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let mut refused_fast = 0;
        for i in 0..8 {
            match bob.client.guild_chat(format!("spam {i}")).await {
                Ok(_) => {}
                Err(ClientError::Server { code, message }) => {
                    assert_eq!(code, dominion_net::proto::ErrorCode::RATE_LIMITED.0);
                    assert!(
                        message.starts_with("you may send 6 guild chat messages a minute"),
                        "{message}"
                    );
                    refused_fast += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(refused_fast, 2, "a burst of 6, then refused");

        // The history keeps the newest 4 and pages newest first.
        let page = ann.client.guild_chat_history(0, 3).await.unwrap();
        let texts: Vec<&str> = page.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["spam 5", "spam 4", "spam 3"]);
        let rest = ann.client.guild_chat_history(page[2].id, 10).await.unwrap();
        let texts: Vec<&str> = rest.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["spam 2"]);
        g.id
    });
    let (status, lines) = server.terminate();
    assert!(status.success(), "{lines:#?}");
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    rt.block_on(async {
        let bob = join(addr, fp, "bob").await;
        let page = bob.client.guild_chat_history(0, 10).await.unwrap();
        let texts: Vec<&str> = page.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["spam 5", "spam 4", "spam 3", "spam 2"]);
        let next = bob.client.guild_chat("back again").await.unwrap();
        assert_eq!(next.id, page[0].id + 1, "ids go on after a restart");
        // Disbanding deletes the chat with the guild.
        let ann = join(addr, fp, "ann").await;
        assert!(done(&ann, A::Disband).await.is_none());
    });
    let (status, _) = server.terminate();
    assert!(status.success());
    let url = format!("sqlite://{}", dir.path().join("data/dominion.db").display());
    rt.block_on(async {
        use dominion_persistence::{GuildChatRecord, GuildRecord, KingdomId, Migrations};
        let store = dominion_persistence::StoreConfig::from_url(&url)
            .unwrap()
            .open()
            .await
            .unwrap();
        let m = Migrations::builtin();
        let guilds: Vec<GuildRecord> =
            dominion_persistence::load_records(store.as_ref(), &m, KingdomId(1))
                .await
                .unwrap();
        let chat: Vec<GuildChatRecord> =
            dominion_persistence::load_records(store.as_ref(), &m, KingdomId(1))
                .await
                .unwrap();
        assert!(guilds.iter().all(|g| g.id != gid), "{guilds:?}");
        assert!(chat.iter().all(|c| c.guild != gid), "{chat:?}");
    });
}

/// Against MongoDB (the wire server `.ci/run` starts, killed and restarted here): while the
/// database is down a guild change is refused with "nothing changed", the registry and the
/// world stay as they were, and the same request succeeds once the database is back.
#[test]
fn a_guild_change_while_the_database_is_down_changes_nothing_and_goes_through_after() {
    use crate::private_secantus::PrivateSecantus;
    const TEST: &str =
        "guilds::a_guild_change_while_the_database_is_down_changes_nothing_and_goes_through_after";
    let Some(mut db) = PrivateSecantus::start(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let store = db.store_url("guilds_down");
    let (mut server, addr, fp) = start_game_server(
        dir.path(),
        &[
            "--store",
            store.as_str(),
            "--admin-token-file",
            tokens.to_str().unwrap(),
        ],
    );
    let admin_at = admin_addr(&mut server);
    let metrics = server.metrics_addr();
    let failing = || {
        crate::support::metric_value(
            &crate::support::fetch_metrics(&metrics),
            "dominion_save_failing",
        )
    };
    let rt = runtime();
    let (ann, bob, gid) = rt.block_on(async {
        let ann = join(addr, fp, "ann").await;
        let bob = join(addr, fp, "bob").await;
        let g = done(
            &ann,
            A::Create {
                name: "Stubborn".into(),
                tag: "ST".into(),
            },
        )
        .await
        .unwrap();
        done(&ann, A::Invite { player: bob.id }).await;
        (ann, bob, g.id)
    });

    db.stop();
    let end = Instant::now() + Duration::from_secs(60);
    while failing() != Some(1.0) {
        assert!(
            Instant::now() < end,
            "saves never noticed the database down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    rt.block_on(async {
        match bob.client.guild(A::AcceptInvite { guild: gid }).await {
            Err(ClientError::Server { code, message }) => {
                assert_eq!(code, dominion::guild::codes::GUILD_UNAVAILABLE.0);
                assert_eq!(
                    message,
                    "the store is unavailable right now; nothing changed, try again"
                );
            }
            other => panic!("a change with the database down: {other:?}"),
        }
        // Nothing changed: bob is still only invited, and not allied in the world.
        let g = done(&ann, A::Show { guild: 0 }).await.unwrap();
        assert_eq!(g.members.len(), 1);
        assert_eq!(g.invited, vec![bob.id]);
    });
    db.resume();
    rt.block_on(async {
        let admin = AdminClient::new(admin_at, TOKEN);
        alliance_becomes(&admin, bob.id, None).await;
        // The same request goes through once the database answers again.
        let end = Instant::now() + Duration::from_secs(60);
        let g = loop {
            match bob.client.guild(A::AcceptInvite { guild: gid }).await {
                Ok(g) => break g.unwrap(),
                Err(ClientError::Server { code, .. })
                    if code == dominion::guild::codes::GUILD_UNAVAILABLE.0
                        && Instant::now() < end =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("after the database came back: {e}"),
            }
        };
        assert_eq!(g.members.len(), 2);
        alliance_becomes(&admin, bob.id, Some(gid)).await;
        drop(ann);
    });
    let (status, lines) = server.terminate();
    assert!(status.success(), "{lines:#?}");
}

/// `kill -9` after guild changes the last save does not cover: the restart replays them from
/// the journal (hash-checked every tick), the recovered world equals a replay of the whole
/// journal from the seed, and the world's alliances agree with the stored guilds.
#[test]
fn alliances_from_guild_changes_are_journaled_and_replayed_after_a_kill() {
    use crate::crash_recovery::{SEED, recovered, replay_from_scratch};
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let seed = SEED.to_string();
    let args = [
        "--seed",
        seed.as_str(),
        "--save-interval-ms",
        "600000",
        "--journal-keep-all",
        "--journal-hash-every",
        "1",
        "--admin-token-file",
        tokens.to_str().unwrap(),
    ];
    let (mut server, addr, fp) = start_game_server(dir.path(), &args);
    let admin_at = admin_addr(&mut server);
    let rt = runtime();
    let (ids, gid) = rt.block_on(async {
        let admin = AdminClient::new(admin_at, TOKEN);
        let ann = join(addr, fp, "ann").await;
        let bob = join(addr, fp, "bob").await;
        let cid = join(addr, fp, "cid").await;
        let g = done(
            &ann,
            A::Create {
                name: "Survivors".into(),
                tag: "SV".into(),
            },
        )
        .await
        .unwrap();
        for p in [&bob, &cid] {
            done(&ann, A::Invite { player: p.id }).await;
            done(p, A::AcceptInvite { guild: g.id }).await;
        }
        done(&ann, A::Kick { player: cid.id }).await;
        for (p, want) in [(ann.id, Some(g.id)), (bob.id, Some(g.id)), (cid.id, None)] {
            alliance_becomes(&admin, p, want).await;
        }
        ((ann.id, bob.id, cid.id), g.id)
    });
    // A few more ticks, then the process dies without a save since the first.
    std::thread::sleep(Duration::from_millis(500));
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();

    let (mut server, _addr, _fp) = start_game_server(dir.path(), &args);
    let line = server.wait_for("recovered at tick", Duration::from_secs(60));
    let (tick, hash) = recovered(&line);
    let replayed = server.wait_for(
        "dominion: journal replayed from tick",
        Duration::from_secs(5),
    );
    assert!(replayed.contains("hash checks"), "{replayed}");
    let admin_at = admin_addr(&mut server);
    rt.block_on(async {
        let admin = AdminClient::new(admin_at, TOKEN);
        let (ann, bob, cid) = ids;
        for (p, want) in [(ann, Some(gid)), (bob, Some(gid)), (cid, None)] {
            alliance_becomes(&admin, p, want).await;
        }
    });
    let (status, lines) = server.terminate();
    assert!(status.success(), "{lines:#?}");
    let mut recoveries = std::collections::BTreeMap::new();
    recoveries.insert(tick, hash);
    // Panics if the world recovered at `tick` differs from the journal replayed from the seed.
    replay_from_scratch(&dir.path().join("data"), tick, &recoveries);
}

/// Cities show their guild's tag in the AOI view: a watcher's mirror sees the tag when the
/// owner founds a guild and loses it when the guild is disbanded.
#[test]
fn cities_show_their_guild_tag_in_the_view() {
    use dominion_net::mirror::Mirror;
    use dominion_net::proto::SetViewport;
    use dominion_sim::aoi::Body;
    use dominion_sim::types::{ObjectId, PlayerId};
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let ann = join(addr, fp, "ann").await;
        let mut eve = join(addr, fp, "eve").await;
        // Eve watches the whole (200x200) test map at the kingdom zoom: cities and marches.
        eve.client
            .set_viewport(SetViewport {
                x: 0,
                y: 0,
                w: 200,
                h: 200,
                zoom: 2,
            })
            .await
            .unwrap();
        let mut mirror = Mirror::new();
        let mut ann_city: Option<ObjectId> = None;
        let mut wait_for = async |mirror: &mut Mirror,
                                  ann_city: &mut Option<ObjectId>,
                                  want: Option<&str>| {
            let end = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(c) = *ann_city
                    && mirror.city_tag(c) == want
                {
                    return;
                }
                assert!(Instant::now() < end, "ann's city never showed {want:?}");
                match tokio::time::timeout(Duration::from_secs(10), eve.pushes.recv()).await {
                    Ok(Some(ServerMessage::WorldDelta(d))) => {
                        mirror.apply(&d).expect("valid delta");
                        *ann_city = mirror
                            .objects()
                            .values()
                            .find(|o| {
                                matches!(o.body, Body::City { owner, .. } if owner == PlayerId(ann.id))
                            })
                            .map(|o| o.id);
                    }
                    Ok(Some(_)) => {}
                    other => panic!("no world delta: {other:?}"),
                }
            }
        };
        wait_for(&mut mirror, &mut ann_city, None).await;
        done(
            &ann,
            A::Create {
                name: "Night Watch".into(),
                tag: "NW".into(),
            },
        )
        .await
        .unwrap();
        wait_for(&mut mirror, &mut ann_city, Some("NW")).await;
        assert!(done(&ann, A::Disband).await.is_none());
        wait_for(&mut mirror, &mut ann_city, None).await;
        let city = mirror.get(ann_city.unwrap()).unwrap();
        assert!(matches!(city.body, Body::City { alliance: None, .. }));
    });
    let (status, _) = server.terminate();
    assert!(status.success());
}

/// The permission table over QUIC, every role × every action: a refused cell is answered with
/// the rule and changes nothing (checked with Show); an allowed cell succeeds on a guild set up
/// afresh (then disbanded, so the same players serve the next cell).
#[test]
fn every_role_may_do_exactly_what_the_table_says_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let mut ps = Vec::new();
        for name in [
            "leader",
            "officer",
            "member",
            "member2",
            "officer2",
            "outsider",
            "applicant",
            "newcomer",
        ] {
            ps.push(join(addr, fp, name).await);
        }
        let [
            leader,
            officer,
            member,
            member2,
            officer2,
            outsider,
            applicant,
            newcomer,
        ] = &ps[..]
        else {
            unreachable!("eight players")
        };
        // Guild: leader; officers officer, officer2; members member, member2; one applicant.
        let setup = async || -> u64 {
            let g = done(
                leader,
                A::Create {
                    name: "Matrix".into(),
                    tag: "MX".into(),
                },
            )
            .await
            .unwrap();
            for p in [officer, member, member2, officer2] {
                done(leader, A::Invite { player: p.id }).await;
                done(p, A::AcceptInvite { guild: g.id }).await;
            }
            for p in [officer, officer2] {
                done(
                    leader,
                    A::SetRole {
                        player: p.id,
                        role: 1,
                    },
                )
                .await;
            }
            done(applicant, A::Apply { guild: g.id }).await;
            g.id
        };
        let actions: Vec<(&str, A)> = vec![
            (
                "invite",
                A::Invite {
                    player: newcomer.id,
                },
            ),
            (
                "accept",
                A::AcceptApplicant {
                    player: applicant.id,
                },
            ),
            (
                "decline",
                A::DeclineApplicant {
                    player: applicant.id,
                },
            ),
            ("kick member", A::Kick { player: member2.id }),
            (
                "kick officer",
                A::Kick {
                    player: officer2.id,
                },
            ),
            (
                "promote",
                A::SetRole {
                    player: member2.id,
                    role: 1,
                },
            ),
            (
                "demote",
                A::SetRole {
                    player: officer2.id,
                    role: 2,
                },
            ),
            ("notice", A::EditNotice { text: "hi".into() }),
            ("transfer", A::Transfer { player: member2.id }),
            ("disband", A::Disband),
            ("leave", A::Leave),
        ];
        let table: [(&Player, &[&str]); 4] = [
            (
                leader,
                &[
                    "invite",
                    "accept",
                    "decline",
                    "kick member",
                    "kick officer",
                    "promote",
                    "demote",
                    "notice",
                    "transfer",
                    "disband",
                ],
            ),
            (
                officer,
                &[
                    "invite",
                    "accept",
                    "decline",
                    "kick member",
                    "notice",
                    "leave",
                ],
            ),
            (member, &["leave"]),
            (outsider, &[]),
        ];
        // Refused cells first, all on one guild: a refusal changes nothing.
        let gid = setup().await;
        let before = done(leader, A::Show { guild: gid }).await;
        for (who, allowed) in &table {
            for (name, action) in &actions {
                if allowed.contains(name) {
                    continue;
                }
                let why = refused(who, action.clone()).await;
                assert!(
                    why.starts_with("only ")
                        || why == "you are not in a guild"
                        || why.contains("transfer the leadership or disband"),
                    "{name}: {why}"
                );
                assert_eq!(done(leader, A::Show { guild: gid }).await, before, "{name}");
            }
        }
        done(leader, A::Disband).await;
        // Allowed cells, each on a fresh guild.
        for (who, allowed) in &table {
            for (name, action) in &actions {
                if !allowed.contains(name) {
                    continue;
                }
                let gid = setup().await;
                guild(who, action.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{name} by {}: {e}", who.id));
                // Whoever leads now ends it, so the next cell starts from nobody in a guild.
                if let Ok(Some(g)) = guild(outsider, A::Show { guild: gid }).await
                    && let Some(lead) = g.members.iter().find(|m| m.role == 0)
                {
                    let lead = ps.iter().find(|p| p.id == lead.player).unwrap();
                    done(lead, A::Disband).await;
                }
                // An invitation or application left over is harmless: the next setup repeats it
                // on a new guild id.
            }
        }
    });
    let (status, _) = server.terminate();
    assert!(status.success());
}
