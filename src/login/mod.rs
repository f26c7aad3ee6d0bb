//! The login service (seed 002): platform token → account (created on first login) → one live
//! session per player, with resume tokens for reconnects.
//!
//! Flow: verify the platform token; take the account's login lock (a second concurrent login of
//! the same account is refused, not raced); load or create the account (user id = sequence << 16
//! | server id, sequence persisted in the store); record presence; bind the session to the player
//! and kick any older session with a reason push; issue a resume token. Everything that can fail
//! comes before the bind, so a failed login leaves the session as it was (not logged in, free to
//! try again) and never kicks anyone.

mod auth_mode;
mod presence;
mod resume;
mod verifier;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dominion_net::proto::ErrorCode;
use dominion_net::transport::{ServerHandle, SessionId};
use dominion_persistence::{
    CoordError, Coordination, Migrations, Store, StoreError, find_account, get_or_create_account,
};
use dominion_sim::types::PlayerId;

pub use auth_mode::{AuthModeError, AuthSettings, choose_verifier};
pub use presence::keep_presence;
pub use resume::ResumeTokens;
pub use verifier::{
    DEFAULT_MAX_TOKEN_LIFETIME, DevVerifier, HmacVerifier, TokenError, TokenVerifier, sign_token,
};

/// Application error codes of the login service (above [`ErrorCode::APPLICATION_BASE`]).
pub mod codes {
    use dominion_net::proto::ErrorCode;
    /// Another login of the same account is in progress.
    pub const LOGIN_IN_PROGRESS: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 1);
    /// The resume token is unknown, used, or expired: log in again.
    pub const RESUME_REFUSED: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 2);
    /// The account store or coordination service is unavailable: try again later.
    pub const UNAVAILABLE: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 3);
    /// Kick reason: the account logged in on another session.
    pub const KICK_DUPLICATE_LOGIN: u16 = ErrorCode::APPLICATION_BASE + 10;
}

/// Why a login or resume failed; each maps to a specific error code for the client.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The platform token was refused.
    #[error("login refused: {0}")]
    Token(#[from] TokenError),
    /// The openid is empty or too long.
    #[error("login refused: openid must be 1..=128 bytes")]
    BadOpenid,
    /// Another login of this account holds the lock.
    #[error("another login of this account is in progress; retry in a moment")]
    InProgress,
    /// The resume token is unknown, used or expired.
    #[error("resume refused: token unknown or expired; log in again")]
    ResumeRefused,
    /// The store failed.
    #[error("account store unavailable: {0}")]
    Store(#[from] StoreError),
    /// Coordination failed.
    #[error("coordination service unavailable: {0}")]
    Coordination(#[from] CoordError),
    /// The session vanished mid-login.
    #[error("session closed during login")]
    SessionGone,
    /// A standby creates no accounts: this openid has none yet.
    #[error(
        "this server is a standby (a read-only copy of the kingdom) and creates no accounts; \
         this account has none yet: log in on the live server first"
    )]
    StandbyNoAccount,
}

impl LoginError {
    /// What the client is told: the reason when it is the client's own (token, openid, a login
    /// in progress, a stale resume token); a generic sentence when the server failed (driver
    /// text and store addresses stay in the log).
    pub fn client_message(&self) -> String {
        match self {
            LoginError::Store(_) | LoginError::Coordination(_) => {
                "the account service is unavailable; try again later".to_owned()
            }
            LoginError::SessionGone => "session closed during login".to_owned(),
            other => other.to_string(),
        }
    }

    /// The wire error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            LoginError::Token(_) | LoginError::BadOpenid => ErrorCode::AUTH_FAILED,
            LoginError::InProgress => codes::LOGIN_IN_PROGRESS,
            LoginError::StandbyNoAccount => ErrorCode::MAINTENANCE,
            LoginError::ResumeRefused => codes::RESUME_REFUSED,
            LoginError::Store(_) | LoginError::Coordination(_) | LoginError::SessionGone => {
                codes::UNAVAILABLE
            }
        }
    }
}

/// A successful login or resume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedIn {
    /// The player.
    pub player: PlayerId,
    /// Token for the next resume.
    pub resume_token: String,
    /// True on the account's first login.
    pub created: bool,
    /// The session that was kicked for this login, if any.
    pub kicked: Option<SessionId>,
}

/// Settings of the login service.
#[derive(Clone, Debug)]
pub struct LoginSettings {
    /// This kingdom's server id (low 16 bits of player ids).
    pub server_id: u16,
    /// This instance's id in presence records.
    pub instance_id: String,
    /// How long a login may hold the account lock.
    pub lock_ttl: Duration,
    /// How long presence lasts without refresh.
    pub presence_ttl: Duration,
    /// How long a resume token stays valid.
    pub resume_ttl: Duration,
    /// A standby (`serve --standby`) writes nothing: no accounts are created, no presence is
    /// recorded and no login locks are taken (the owner instance keeps all three).
    pub standby: bool,
}

impl LoginSettings {
    /// Defaults for `server_id` / `instance_id`.
    pub fn new(server_id: u16, instance_id: impl Into<String>) -> Self {
        LoginSettings {
            server_id,
            instance_id: instance_id.into(),
            lock_ttl: Duration::from_secs(10),
            presence_ttl: Duration::from_secs(300),
            resume_ttl: Duration::from_secs(600),
            standby: false,
        }
    }
}

/// What one presence refresh round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PresenceRound {
    /// Presence written again for players still online here.
    pub written: usize,
    /// Players who left during the round: the entry was cleared again.
    pub gone: usize,
    /// Players whose presence names another instance (left alone).
    pub elsewhere: usize,
    /// Writes or clears that failed (the coordination service is down).
    pub failed: usize,
}

/// Logs players in; shared by every connection task.
pub struct LoginService {
    store: Arc<dyn Store>,
    coord: Arc<dyn Coordination>,
    migrations: Arc<Migrations>,
    verifier: Arc<dyn TokenVerifier>,
    settings: LoginSettings,
    resume: ResumeTokens,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl LoginService {
    /// A login service over `store` and `coord`.
    pub fn new(
        store: Arc<dyn Store>,
        coord: Arc<dyn Coordination>,
        migrations: Arc<Migrations>,
        verifier: Arc<dyn TokenVerifier>,
        settings: LoginSettings,
    ) -> Self {
        let resume = ResumeTokens::new(settings.resume_ttl);
        LoginService {
            store,
            coord,
            migrations,
            verifier,
            settings,
            resume,
        }
    }

    /// The verifier's name, for the start-up log.
    pub fn verifier_name(&self) -> &'static str {
        self.verifier.name()
    }

    /// Logs `session` in as the account behind `openid`.
    pub async fn login(
        &self,
        net: &ServerHandle,
        session: SessionId,
        openid: &str,
        platform_token: &str,
    ) -> Result<LoggedIn, LoginError> {
        if openid.is_empty() || openid.len() > 128 {
            return Err(LoginError::BadOpenid);
        }
        self.verifier.verify(openid, platform_token, now_unix())?;
        if self.settings.standby {
            // No account is created here, so there is nothing for a lock to serialize.
            return self.login_locked(net, session, openid).await;
        }
        let lock = format!("login:{}:{openid}", self.settings.server_id);
        let token = self
            .coord
            .try_lock(&lock, self.settings.lock_ttl)
            .await?
            .ok_or(LoginError::InProgress)?;
        let result = self.login_locked(net, session, openid).await;
        if let Err(e) = self.coord.unlock(&lock, &token).await {
            // The lock expires by itself; a failed unlock only delays the next login briefly.
            tracing::warn!(openid, "releasing the login lock failed: {e}");
        }
        result
    }

    async fn login_locked(
        &self,
        net: &ServerHandle,
        session: SessionId,
        openid: &str,
    ) -> Result<LoggedIn, LoginError> {
        let (player, created) = if self.settings.standby {
            let found = find_account(
                self.store.as_ref(),
                &self.migrations,
                self.settings.server_id,
                openid,
            )
            .await?;
            (found.ok_or(LoginError::StandbyNoAccount)?, false)
        } else {
            get_or_create_account(
                self.store.as_ref(),
                &self.migrations,
                self.settings.server_id,
                openid,
            )
            .await?
        };
        let kicked = self.bind(net, session, player).await?;
        let resume_token = self.resume.issue(player, Instant::now());
        tracing::info!(%player, openid, created, ?kicked, "login");
        Ok(LoggedIn {
            player,
            resume_token,
            created,
            kicked,
        })
    }

    /// Resumes `session` as the player a resume token was issued to.
    pub async fn resume(
        &self,
        net: &ServerHandle,
        session: SessionId,
        token: &str,
    ) -> Result<LoggedIn, LoginError> {
        let player = self
            .resume
            .redeem(token, Instant::now())
            .ok_or(LoginError::ResumeRefused)?;
        let kicked = self.bind(net, session, player).await?;
        let resume_token = self.resume.issue(player, Instant::now());
        tracing::info!(%player, ?kicked, "session resumed");
        Ok(LoggedIn {
            player,
            resume_token,
            created: false,
            kicked,
        })
    }

    /// Records presence, then binds the session and kicks an older one. The step that can fail
    /// (presence, in the coordination service) comes first and binding is one registry update,
    /// so a failed login leaves the session unauthenticated and an older session untouched.
    async fn bind(
        &self,
        net: &ServerHandle,
        session: SessionId,
        player: PlayerId,
    ) -> Result<Option<SessionId>, LoginError> {
        let instance = &self.settings.instance_id;
        if !self.settings.standby {
            self.coord
                .set_presence(player, instance, self.settings.presence_ttl)
                .await?;
        }
        let old = match net.bind_player(session, player) {
            Ok(old) => old,
            Err(_) => {
                // The session went away meanwhile. The presence just written stands only if
                // another session of this player is still live here.
                if !self.settings.standby
                    && net.player_session(player).is_none()
                    && let Err(e) = self.coord.clear_presence(player, instance).await
                {
                    tracing::warn!(%player, "clearing presence after an abandoned login: {e}");
                }
                return Err(LoginError::SessionGone);
            }
        };
        if let Some(old) = old {
            // The old session may have gone on its own meanwhile; that is fine.
            let _ = net.kick(
                old,
                codes::KICK_DUPLICATE_LOGIN,
                "logged in from another session",
            );
        }
        Ok(old)
    }

    /// Writes the presence of `players` (online on this instance when the list was taken) again.
    ///
    /// The list is older than each write, so a refresh must not bring back a player who left
    /// meanwhile: the write only takes an absent entry or this instance's own (never another
    /// instance's, where the player may have logged in since), and after each write the player
    /// is looked up on `net` again — gone (the logout's clear may have run before the write),
    /// the entry just written is cleared again.
    pub async fn refresh_presence(
        &self,
        net: &ServerHandle,
        players: &[PlayerId],
    ) -> PresenceRound {
        let instance = &self.settings.instance_id;
        let mut round = PresenceRound::default();
        if self.settings.standby {
            return round;
        }
        for &player in players {
            match self
                .coord
                .refresh_presence(player, instance, self.settings.presence_ttl)
                .await
            {
                Ok(true) if net.player_session(player).is_none() => {
                    round.gone += 1;
                    if let Err(e) = self.coord.clear_presence(player, instance).await {
                        round.failed += 1;
                        tracing::warn!(%player, "clearing the presence of a player who left: {e}");
                    }
                }
                Ok(true) => round.written += 1,
                Ok(false) => {
                    round.elsewhere += 1;
                    tracing::info!(
                        %player,
                        "presence names another instance: not refreshed from here"
                    );
                }
                Err(e) => {
                    round.failed += 1;
                    tracing::debug!(%player, "refreshing presence: {e}");
                }
            }
        }
        round
    }

    /// Clears presence when a player's session ends (if this instance still holds it).
    pub async fn logout(&self, player: PlayerId) {
        if self.settings.standby {
            return;
        }
        if let Err(e) = self
            .coord
            .clear_presence(player, &self.settings.instance_id)
            .await
        {
            tracing::warn!(%player, "clearing presence failed: {e}");
        }
    }
}
