//! Users, roles and scope: who may see and do what.
//!
//! A user holds one or more positions (each also a role) and belongs to a
//! department. Users of city-tier departments, and administrators, see the whole
//! city; everyone else sees only the area of their department.

use crate::Invalid;
use crate::city::{Position, Tier};
use crate::codes::DivisionCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub department_code: Option<String>,
    pub roles: Vec<Position>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// What a new or changed account holds, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub department_code: Option<String>,
    pub roles: Vec<Position>,
}

impl NewUser {
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_username(&self.username)?;
        if self.display_name.trim().is_empty() || self.display_name.chars().count() > 64 {
            return Err(Invalid::new(
                "display_name",
                "a display name must be 1-64 characters",
            ));
        }
        if self.roles.is_empty() {
            return Err(Invalid::new("roles", "a user needs at least one role"));
        }
        Ok(())
    }
}

pub fn validate_username(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "username",
            format!(
                "username {name:?} must be 1-64 characters of letters, digits, '_', '-' or '.'"
            ),
        ))
    }
}

/// Passwords must be long enough to resist guessing; no composition rules.
pub fn validate_password(password: &str) -> Result<(), Invalid> {
    let n = password.chars().count();
    if n < 10 {
        return Err(Invalid::new(
            "password",
            format!("the password has {n} characters; use at least 10"),
        ));
    }
    if n > 256 {
        return Err(Invalid::new(
            "password",
            "the password is longer than 256 characters",
        ));
    }
    Ok(())
}

/// The part of the city a user may see and act in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "area", rename_all = "snake_case")]
pub enum Scope {
    /// The whole city.
    All,
    /// One area and everything inside it.
    Area(DivisionCode),
    /// Nothing (a user without a department who is not an administrator).
    Nothing,
}

impl Scope {
    /// The scope of a user with `roles` in a department at `tier` covering `area`.
    pub fn of(roles: &[Position], department: Option<(Tier, &DivisionCode)>) -> Scope {
        if roles.contains(&Position::Admin) {
            return Scope::All;
        }
        match department {
            Some((Tier::City, _)) => Scope::All,
            Some((_, area)) => Scope::Area(area.clone()),
            None => Scope::Nothing,
        }
    }

    pub fn contains(&self, code: &DivisionCode) -> bool {
        match self {
            Scope::All => true,
            Scope::Area(a) => a.contains(code),
            Scope::Nothing => false,
        }
    }

    /// Whether a code given as text lies in scope; unknown shapes are outside.
    pub fn contains_str(&self, code: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Area(a) => code.starts_with(a.prefix()),
            Scope::Nothing => false,
        }
    }

    /// The code prefix to filter lists by, `None` for everything.
    pub fn prefix(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Area(a) => Some(a.prefix()),
            Scope::Nothing => Some("-"),
        }
    }
}

/// Actions guarded by role. Each endpoint names the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the city model, components, standards.
    ReadCity,
    /// Change areas, grids, departments, staff, components, local classes.
    ManageCity,
    /// Create, change and disable users; read the audit log.
    ManageUsers,
}

impl Permission {
    pub fn allowed(self, roles: &[Position]) -> bool {
        match self {
            Permission::ReadCity => !roles.is_empty(),
            Permission::ManageCity | Permission::ManageUsers => roles.contains(&Position::Admin),
        }
    }
}

/// A revocable API token (bearer) for integrations; the secret is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it in a list.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_follows_department_tier() {
        let d = DivisionCode::parse("360602").unwrap();
        let inside = DivisionCode::parse("360602001").unwrap();
        let outside = DivisionCode::parse("360603001").unwrap();
        let s = Scope::of(&[Position::Dispatcher], Some((Tier::District, &d)));
        assert!(s.contains(&inside));
        assert!(!s.contains(&outside));
        assert!(Scope::of(&[Position::Leader], Some((Tier::City, &d))).contains(&outside));
        assert!(Scope::of(&[Position::Admin], None).contains(&outside));
        assert!(!Scope::of(&[Position::Handler], None).contains(&inside));
    }

    #[test]
    fn credentials_rules() {
        assert!(validate_username("zhang.san").is_ok());
        assert!(validate_username("张三").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pass").is_ok());
    }
}
