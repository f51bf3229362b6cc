//! `chengyun user …`: accounts and API tokens from the command line.

use super::{cli_actor, open_store};
use crate::cli::UserWhat;
use crate::config::Config;
use anyhow::{Context, anyhow, bail};
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::auth::{NewUser, User};
use chengyun_domain::city::Position;
use chengyun_domain::page::PageRequest;
use chengyun_services::auth::{self, AuthError};
use chengyun_store::Store;
use std::io::Read;

pub async fn run(config: &Config, what: UserWhat) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let store = store.as_ref();
    let actor = cli_actor();
    match what {
        UserWhat::Create {
            username,
            roles,
            department,
            name,
            password_stdin,
        } => {
            let roles = roles
                .iter()
                .map(|r| Position::parse(r).map_err(|e| anyhow!(e.message)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let new = NewUser {
                display_name: name.unwrap_or_else(|| username.clone()),
                username,
                department_code: department,
                roles,
            };
            let (password, generated) = password(password_stdin)?;
            let user = auth::create_user(store, &new, &password, &actor)
                .await
                .map_err(explain)?;
            println!("created user {} (id {})", user.username, user.id);
            if generated {
                println!("password: {password}");
            }
        }
        UserWhat::Passwd {
            username,
            password_stdin,
        } => {
            let user = find(store, &username).await?;
            let (password, generated) = password(password_stdin)?;
            auth::set_password(store, user.id, &password, &actor)
                .await
                .map_err(explain)?;
            println!(
                "password of {} changed; their sessions were ended",
                user.username
            );
            if generated {
                println!("password: {password}");
            }
        }
        UserWhat::List => {
            println!(
                "{:>5}  {:<20} {:<16} {:<16} {:<8} roles",
                "id", "username", "name", "department", "status"
            );
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let p = store.list_users(&page).await?;
                for u in &p.items {
                    let roles: Vec<&str> = u.roles.iter().map(|r| r.label_zh()).collect();
                    println!(
                        "{:>5}  {:<20} {:<16} {:<16} {:<8} {}",
                        u.id,
                        u.username,
                        u.display_name,
                        u.department_code.as_deref().unwrap_or("-"),
                        if u.disabled { "disabled" } else { "active" },
                        roles.join(",")
                    );
                }
                match p.next {
                    Some(n) => page.after = Some(n),
                    None => break,
                }
            }
        }
        UserWhat::Disable { username } => set_disabled(store, &username, true, &actor).await?,
        UserWhat::Enable { username } => set_disabled(store, &username, false, &actor).await?,
        UserWhat::Token {
            username,
            name,
            days,
        } => {
            let user = find(store, &username).await?;
            let expires = days.map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
            let (secret, token) = auth::create_token(store, user.id, &name, expires, &actor)
                .await
                .map_err(explain)?;
            println!(
                "token {} for {} created (id {}); use it as `Authorization: Bearer <token>`:",
                token.name, user.username, token.id
            );
            println!("{secret}");
        }
    }
    Ok(())
}

async fn set_disabled(
    store: &dyn Store,
    username: &str,
    disabled: bool,
    actor: &chengyun_domain::audit::Actor,
) -> anyhow::Result<()> {
    let user = find(store, username).await?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    store
        .set_user_disabled(
            user.id,
            disabled,
            &AuditEvent::new(actor, action, "user", user.id.to_string()),
        )
        .await?;
    println!(
        "{} {}",
        user.username,
        if disabled {
            "disabled; sessions ended"
        } else {
            "enabled"
        }
    );
    Ok(())
}

async fn find(store: &dyn Store, username: &str) -> anyhow::Result<User> {
    match store.user_by_name(username).await? {
        Some((u, _)) => Ok(u),
        None => bail!("no user named {username:?}; see `chengyun user list`"),
    }
}

/// The password from stdin (first line), or a generated one.
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the password from stdin")?;
        let p = s.lines().next().unwrap_or("").to_string();
        Ok((p, false))
    } else {
        Ok((auth::random_secret(), true))
    }
}

fn explain(e: AuthError) -> anyhow::Error {
    match e {
        AuthError::Invalid(i) => anyhow!("{}: {}", i.field, i.message),
        other => anyhow!(other),
    }
}
