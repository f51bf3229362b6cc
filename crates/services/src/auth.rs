//! Passwords, sessions, API tokens and the first administrator account.
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults, OWASP's
//! recommended parameters). Session cookies and API tokens are 32 random bytes
//! in URL-safe base64; only their SHA-256 (hex) is stored, so a copy of the
//! database does not let anyone log in. API tokens carry a `cy_` prefix so they
//! are recognisable in logs and by secret scanners.
//!
//! Device secrets (JT/T 808 auth codes, MQTT passwords, HTTP tokens) are 32
//! random bytes chosen by the platform, not passwords a person picks: a slow
//! password hash adds nothing against guessing 256 bits, and it would cost
//! tens of milliseconds of CPU on every device connect and HTTP post. They are
//! stored as the PHC-style string `$sha256$v=1$<hex>` ([`device_secret_hash`]); hashes written by older
//! versions (argon2id PHC strings) still verify ([`verify_device_secret`]).
//!
//! Login takes the same time whether or not the username exists: an unknown
//! user is checked against a dummy hash, so timing does not reveal which
//! accounts exist.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chengyun_domain::Invalid;
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::auth::{ApiToken, NewUser, User, validate_password};
use chengyun_domain::city::Position;
use chengyun_store::{NewToken, Store, StoreError};
use chrono::{DateTime, Utc};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::Duration;

/// The prefix of every API token secret.
pub const TOKEN_PREFIX: &str = "cy_";
/// How many leading characters of a token are stored to recognise it in lists.
pub const TOKEN_SHOWN_CHARS: usize = 10;
/// The username of the account created on first start.
pub const ADMIN_USERNAME: &str = "admin";

/// What can go wrong while authenticating or managing credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or disabled account: deliberately one case,
    /// so the answer does not reveal which of them it was.
    #[error("wrong username or password")]
    InvalidCredentials,
    /// The input breaks a rule (password too short, token name empty …).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hashing library failed (a malformed stored hash, out of memory).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a password with argon2id and a fresh random salt (PHC string format).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC hash. The comparison inside argon2
/// is constant-time. A malformed stored hash counts as a mismatch (and is
/// logged), so a broken row can never let anyone in.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is malformed");
            false
        }
    }
}

/// A hash of a random password nobody knows, computed once, that logins for
/// unknown usernames are checked against so they cost as much as real ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&random_secret()).unwrap_or_else(|e| {
            // Cannot happen with the default parameters; an empty hash makes
            // unknown-user logins fail fast rather than not at all.
            tracing::error!(error = %e, "could not compute the dummy password hash");
            String::new()
        })
    })
}

/// 32 random bytes from the operating system, URL-safe base64 without padding.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API token secret: `cy_` followed by a random secret.
pub fn new_token_secret() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// SHA-256 of a secret, lowercase hex: what the store keeps instead of the secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The prefix of a stored device-secret hash.
pub const DEVICE_HASH_PREFIX: &str = "$sha256$v=1$";

/// What the store keeps for a platform-generated device secret.
pub fn device_secret_hash(secret: &str) -> String {
    format!("{DEVICE_HASH_PREFIX}{}", secret_hash(secret))
}

/// Checks a device's presented secret against its stored hash: `$sha256$v=1$<hex>`
/// (compared in constant time) or, for hashes written before, an argon2 PHC
/// string. Anything else never matches.
pub fn verify_device_secret(secret: &str, stored: &str) -> bool {
    match stored.strip_prefix(DEVICE_HASH_PREFIX) {
        Some(hex) => {
            let got = secret_hash(secret);
            got.len() == hex.len()
                && got
                    .bytes()
                    .zip(hex.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
                    == 0
        }
        None => verify_password(secret, stored),
    }
}

/// Runs a CPU-heavy hashing step off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Hash(format!("hashing task failed: {e}")))
}

/// Checks a username and password and opens a session of `ttl`.
///
/// Returns the session secret (to put in the cookie; it is not stored) and the
/// user. A failure is recorded in the audit log as `auth.login_failed` (with
/// the reason, never the password); a success as `auth.login` by the store's
/// `create_session`.
pub async fn login(
    store: &dyn Store,
    username: &str,
    password: &str,
    actor: &Actor,
    ttl: Duration,
) -> Result<(String, User), AuthError> {
    let found = store.user_by_name(username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, dummy_hash().to_string()),
    };
    let pw = password.to_string();
    let ok = blocking(move || verify_password(&pw, &hash)).await?;
    let reason = match &user {
        None => Some("unknown_user"),
        Some(_) if !ok => Some("wrong_password"),
        Some(u) if u.disabled => Some("disabled"),
        Some(_) => None,
    };
    match (reason, user) {
        (None, Some(user)) => {
            let secret = random_secret();
            let ttl = chrono::Duration::from_std(ttl)
                .map_err(|_| Invalid::new("ttl", "the session lifetime is too long"))?;
            let expires_at = Utc::now() + ttl;
            let mut actor = actor.clone();
            actor.user_id = Some(user.id);
            actor.name = user.username.clone();
            let event = AuditEvent::new(&actor, "auth.login", "user", user.id.to_string())
                .with(serde_json::json!({ "expires_at": expires_at }));
            store
                .create_session(&secret_hash(&secret), user.id, expires_at, &event)
                .await?;
            Ok((secret, user))
        }
        (reason, user) => {
            let mut actor = actor.clone();
            if let Some(u) = &user {
                actor.user_id = Some(u.id);
            }
            actor.name = username.chars().take(64).collect();
            let event = AuditEvent::new(
                &actor,
                "auth.login_failed",
                "user",
                user.as_ref()
                    .map(|u| u.id.to_string())
                    .unwrap_or_else(|| actor.name.clone()),
            )
            .with(serde_json::json!({ "reason": reason.unwrap_or("unknown") }));
            if let Err(e) = store.record_audit(&event).await {
                tracing::warn!(error = %e, "could not record a failed login");
            }
            Err(AuthError::InvalidCredentials)
        }
    }
}

/// Ends the session with this secret (if any), recording `auth.logout`.
pub async fn logout(store: &dyn Store, secret: &str, actor: &Actor) -> Result<(), AuthError> {
    let target = actor
        .user_id
        .map(|id| id.to_string())
        .unwrap_or_else(|| actor.name.clone());
    let event = AuditEvent::new(actor, "auth.logout", "user", target);
    store.delete_session(&secret_hash(secret), &event).await?;
    Ok(())
}

/// The enabled user of an unexpired session with this cookie secret.
pub async fn authenticate_session(
    store: &dyn Store,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    if secret.is_empty() || secret.len() > 128 {
        return Ok(None);
    }
    store.session_user(&secret_hash(secret), now).await
}

/// The token and its enabled user for an unrevoked, unexpired API token.
/// Anything without the `cy_` prefix is not a token and is refused without a
/// database lookup.
pub async fn authenticate_token(
    store: &dyn Store,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<(ApiToken, User)>, StoreError> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
        return Ok(None);
    }
    store.token_user(&secret_hash(secret), now).await
}

/// Creates an API token for `user_id`. Returns the secret (shown once, never
/// stored) and the stored token.
pub async fn create_token(
    store: &dyn Store,
    user_id: i64,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<(String, ApiToken), AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(Invalid::new("name", "a token name must be 1-64 characters").into());
    }
    if let Some(at) = expires_at
        && at <= Utc::now()
    {
        return Err(Invalid::new("expires_at", format!("expiry {at} is in the past")).into());
    }
    let secret = new_token_secret();
    let token = NewToken {
        user_id,
        name: name.to_string(),
        prefix: secret.chars().take(TOKEN_SHOWN_CHARS).collect(),
        hash: secret_hash(&secret),
        expires_at,
    };
    let event = AuditEvent::new(actor, "token.create", "user", user_id.to_string())
        .with(serde_json::json!({ "name": name, "prefix": token.prefix }));
    let stored = store.create_token(&token, &event).await?;
    Ok((secret, stored))
}

/// Validates and hashes a password, then creates the user (`user.create`).
pub async fn create_user(
    store: &dyn Store,
    user: &NewUser,
    password: &str,
    actor: &Actor,
) -> Result<User, AuthError> {
    user.validate()?;
    validate_password(password)?;
    let pw = password.to_string();
    let hash = blocking(move || hash_password(&pw)).await??;
    let event = AuditEvent::new(actor, "user.create", "user", user.username.clone()).with(
        serde_json::json!({
            "display_name": user.display_name,
            "department_code": user.department_code,
            "roles": user.roles,
        }),
    );
    Ok(store.create_user(user, &hash, &event).await?)
}

/// Validates and sets a new password (`user.password`); ends the user's sessions.
pub async fn set_password(
    store: &dyn Store,
    user_id: i64,
    password: &str,
    actor: &Actor,
) -> Result<(), AuthError> {
    validate_password(password)?;
    let pw = password.to_string();
    let hash = blocking(move || hash_password(&pw)).await??;
    let event = AuditEvent::new(actor, "user.password", "user", user_id.to_string());
    store.set_password(user_id, &hash, &event).await?;
    Ok(())
}

/// On an empty users table, creates the `admin` account (role admin, display
/// name 管理员) and returns the generated password for the caller to show once;
/// with `password` given, that password is used (after validation) and `None`
/// returned. Does nothing when any user exists.
pub async fn ensure_admin(
    store: &dyn Store,
    password: Option<String>,
) -> Result<Option<String>, AuthError> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (random_secret(), true),
    };
    let admin = NewUser {
        username: ADMIN_USERNAME.to_string(),
        display_name: "管理员".to_string(),
        department_code: None,
        roles: vec![Position::Admin],
    };
    create_user(store, &admin, &password, &Actor::system("system")).await?;
    Ok(generated.then_some(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse battery!", &a));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn device_secrets_hash_fast_and_old_argon2_hashes_still_verify() {
        let secret = random_secret();
        let stored = device_secret_hash(&secret);
        assert!(stored.starts_with("$sha256$v=1$"));
        assert_eq!(stored.len(), 12 + 64);
        assert!(verify_device_secret(&secret, &stored));
        let upper = format!("$sha256$v=1${}", stored[12..].to_ascii_uppercase());
        assert!(verify_device_secret(&secret, &upper));
        assert!(!verify_device_secret(&format!("{secret}x"), &stored));
        assert!(!verify_device_secret("", &stored));
        assert!(!verify_device_secret(&secret, "$sha256$v=1$abc"));
        assert!(!verify_device_secret(&secret, "garbage"));
        let legacy = hash_password("old-device-code").unwrap();
        assert!(verify_device_secret("old-device-code", &legacy));
        assert!(!verify_device_secret("other", &legacy));
    }

    #[test]
    fn dummy_hash_is_a_valid_hash_that_nothing_matches() {
        assert!(PasswordHash::new(dummy_hash()).is_ok());
        assert!(!verify_password("", dummy_hash()));
        assert!(!verify_password("admin", dummy_hash()));
    }

    #[test]
    fn secrets_are_random_url_safe_and_hashed() {
        let s = random_secret();
        assert_eq!(s.len(), 43, "32 bytes in unpadded base64");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(s, random_secret());
        let t = new_token_secret();
        assert!(t.starts_with("cy_"));
        let h = secret_hash(&t);
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(h, secret_hash(&t));
        assert_ne!(h, secret_hash(&s));
        // A known SHA-256 vector, so the hex encoding cannot silently change.
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    async fn store() -> (tempfile::TempDir, chengyun_store::SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = chengyun_store::SqliteStore::open(&dir.path().join("auth.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn first_admin_login_session_and_token() {
        let (_dir, store) = store().await;
        let generated = ensure_admin(&store, None).await.unwrap().unwrap();
        assert_eq!(ensure_admin(&store, None).await.unwrap(), None, "only once");
        let actor = Actor::system("test");
        let ttl = Duration::from_secs(60);
        let (secret, user) = login(&store, "admin", &generated, &actor, ttl)
            .await
            .unwrap();
        assert_eq!(user.display_name, "管理员");
        assert_eq!(user.roles, vec![Position::Admin]);
        let now = Utc::now();
        let found = authenticate_session(&store, &secret, now).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(user.id));
        let later = now + chrono::Duration::seconds(120);
        assert!(
            authenticate_session(&store, &secret, later)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            authenticate_session(&store, "guess", now)
                .await
                .unwrap()
                .is_none()
        );

        let (token, stored) = create_token(&store, user.id, "ci", None, &actor)
            .await
            .unwrap();
        assert!(token.starts_with(&stored.prefix));
        let (t, u) = authenticate_token(&store, &token, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((t.id, u.id), (stored.id, user.id));
        assert!(
            authenticate_token(&store, &secret, now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            create_token(&store, user.id, "  ", None, &actor).await,
            Err(AuthError::Invalid(_))
        ));

        logout(&store, &secret, &actor).await.unwrap();
        assert!(
            authenticate_session(&store, &secret, now)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn failed_logins_are_refused_alike_and_audited() {
        let (_dir, store) = store().await;
        assert!(matches!(
            ensure_admin(&store, Some("short".into())).await,
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(
            ensure_admin(&store, Some("a good long password".into()))
                .await
                .unwrap(),
            None
        );
        let actor = Actor::system("test");
        let ttl = Duration::from_secs(60);
        for (name, pw) in [
            ("admin", "wrong password"),
            ("ghost", "a good long password"),
        ] {
            assert!(matches!(
                login(&store, name, pw, &actor, ttl).await,
                Err(AuthError::InvalidCredentials)
            ));
        }
        let q = chengyun_store::AuditQuery {
            action_prefix: Some("auth.login_failed".into()),
            ..Default::default()
        };
        let page = store
            .list_audit(&q, &chengyun_domain::page::PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2);
        let reasons: Vec<&str> = page
            .items
            .iter()
            .filter_map(|r| r.details["reason"].as_str())
            .collect();
        assert!(reasons.contains(&"wrong_password") && reasons.contains(&"unknown_user"));
    }
}
