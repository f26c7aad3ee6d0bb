//! The gateway task: turns session events from the QUIC server into logins, world inputs and
//! replies. One task reads events in order; logins run as their own tasks (they wait on the
//! store) so one slow login never holds up another session's commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dominion_net::proto::{ClientMessage, ErrorCode, LoginOk, ServerMessage};
use dominion_net::transport::{ServerEvent, ServerHandle, SessionId};
use tokio::sync::mpsc;

use crate::guild::{GuildAsk, GuildHandle};
use crate::inbox::Refused;
use crate::login::{LoggedIn, LoginError, LoginService};
use crate::mail::{MailHandle, MailRequest};
use crate::world_bridge::WorldSender;

/// Everything the gateway needs.
pub struct Gateway {
    /// The QUIC server.
    pub net: ServerHandle,
    /// Logins.
    pub login: Arc<LoginService>,
    /// To the tick thread.
    pub world: WorldSender,
    /// Last tick run.
    pub tick: Arc<AtomicU64>,
    /// Mailboxes.
    pub mail: MailHandle,
    /// Guilds.
    pub guilds: GuildHandle,
}

impl Gateway {
    /// Handles events until the server's event channel closes.
    pub async fn run(self, mut events: mpsc::Receiver<ServerEvent>) {
        let this = Arc::new(self);
        while let Some(event) = events.recv().await {
            this.handle(event);
        }
    }

    fn handle(self: &Arc<Self>, event: ServerEvent) {
        match event {
            ServerEvent::Connected { session, remote } => {
                tracing::debug!(?session, %remote, "connected");
            }
            ServerEvent::Disconnected {
                session,
                player,
                reason,
            } => {
                tracing::debug!(?session, ?player, reason, "disconnected");
                self.world.session_closed(session);
                if let Some(player) = player {
                    let login = self.login.clone();
                    tokio::spawn(async move { login.logout(player).await });
                }
            }
            ServerEvent::Message {
                session,
                request_id,
                message,
            } => self.handle_message(session, request_id, message),
        }
    }

    fn handle_message(
        self: &Arc<Self>,
        session: SessionId,
        request_id: u32,
        message: ClientMessage,
    ) {
        match message {
            ClientMessage::Login(login) => {
                let this = self.clone();
                tokio::spawn(async move {
                    let result = this
                        .login
                        .login(&this.net, session, &login.openid, &login.platform_token)
                        .await;
                    this.finish_login(session, request_id, result);
                });
            }
            ClientMessage::Resume(resume) => {
                let this = self.clone();
                tokio::spawn(async move {
                    let result = this
                        .login
                        .resume(&this.net, session, &resume.resume_token)
                        .await;
                    this.finish_login(session, request_id, result);
                });
            }
            ClientMessage::Command(command) => {
                // The protocol core only lets authenticated sessions send commands.
                let Some(player) = self.net.session_player(session) else {
                    return;
                };
                if let Err(refused) = self
                    .world
                    .command(session, player, request_id, command.body)
                {
                    self.refuse(session, request_id, refused);
                }
            }
            ClientMessage::SetViewport(viewport) => {
                if let Err(refused) = self.world.viewport(session, request_id, viewport) {
                    self.refuse(session, request_id, refused);
                }
            }
            ClientMessage::MailList(m) => {
                self.mail_request(session, request_id, MailRequest::List(m))
            }
            ClientMessage::MailRead(m) => {
                self.mail_request(session, request_id, MailRequest::Read(m))
            }
            ClientMessage::MailMarkRead(m) => {
                self.mail_request(session, request_id, MailRequest::MarkRead(m))
            }
            ClientMessage::MailDelete(m) => {
                self.mail_request(session, request_id, MailRequest::Delete(m))
            }
            ClientMessage::MailClaim(m) => {
                self.mail_request(session, request_id, MailRequest::Claim(m))
            }
            ClientMessage::GuildRequest(r) => {
                self.guild_request(session, request_id, GuildAsk::Action(r.action))
            }
            ClientMessage::GuildChatSend(m) => {
                self.guild_request(session, request_id, GuildAsk::ChatSend(m.text))
            }
            ClientMessage::GuildChatHistory(h) => self.guild_request(
                session,
                request_id,
                GuildAsk::ChatHistory {
                    before: h.before,
                    limit: h.limit,
                },
            ),
            other => {
                tracing::debug!(?session, "message not handled by the gateway: {other:?}");
            }
        }
    }

    /// Hands a mailbox request to the mail service, which replies.
    fn mail_request(&self, session: SessionId, request_id: u32, request: MailRequest) {
        // The protocol core only lets authenticated sessions send these.
        if let Some(player) = self.net.session_player(session) {
            self.mail.request(session, request_id, player, request);
        }
    }

    /// Hands a guild request to the guild service, which replies.
    fn guild_request(&self, session: SessionId, request_id: u32, ask: GuildAsk) {
        // The protocol core only lets authenticated sessions send these.
        if let Some(player) = self.net.session_player(session) {
            self.guilds.request(session, request_id, player, ask);
        }
    }

    /// Answers a request the world's inbox would not take, at once: nothing was queued.
    fn refuse(&self, session: SessionId, request_id: u32, refused: Refused) {
        tracing::debug!(?session, request_id, "{refused}");
        let _ = self.net.reply(
            session,
            request_id,
            &ServerMessage::error(ErrorCode::RATE_LIMITED, refused.to_string()),
        );
    }

    fn finish_login(
        &self,
        session: SessionId,
        request_id: u32,
        result: Result<LoggedIn, LoginError>,
    ) {
        match result {
            Ok(done) => {
                self.world.player_online(session, done.player);
                let ok = LoginOk {
                    player_id: done.player.0,
                    resume_token: done.resume_token,
                    server_time_tick: self.tick.load(Ordering::Relaxed),
                };
                let _ = self
                    .net
                    .reply(session, request_id, &ServerMessage::from(ok));
            }
            Err(e) => {
                match &e {
                    LoginError::Store(_) | LoginError::Coordination(_) => {
                        tracing::warn!(?session, "login failed: {e}")
                    }
                    _ => tracing::info!(?session, "login failed: {e}"),
                }
                let _ = self.net.refuse_login(
                    session,
                    request_id,
                    &ServerMessage::error(e.code(), e.client_message()),
                );
            }
        }
    }
}
