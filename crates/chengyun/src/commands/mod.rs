//! One module per subcommand; `run` loads the configuration and dispatches.

mod bench;
mod demo;
mod grid;
mod import;
mod serve;
mod sim;
mod user;

use crate::cli::{Cli, Command};
use crate::config::{Config, Overrides};
use anyhow::Context;
use chengyun_domain::audit::Actor;
use chengyun_store::DynStore;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen, .. } => *listen,
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
    };
    let mut config = Config::load(cli.global.config.as_deref(), &overrides)?;
    if let Command::Demo { .. } = cli.command {
        // The demo keeps its own embedded database unless told otherwise.
        if overrides.data_dir.is_none() && cli.global.config.is_none() {
            config.data_dir = "chengyun-demo".into();
        }
        config.database_url = None;
    }
    init_tracing(
        &config,
        matches!(cli.command, Command::Serve { .. } | Command::Demo { .. }),
    );
    match cli.command {
        Command::Serve { .. } => serve::run(config).await,
        Command::Demo {
            seed,
            components,
            fresh,
            no_sim,
            sim,
            ..
        } => demo::run(config, seed, components, fresh, (!no_sim).then_some(sim)).await,
        Command::Sim {
            target,
            admin_user,
            admin_password,
            jt808,
            watch,
            mqtt,
            http_telemetry,
            gb28181,
            sim,
        } => {
            let remote = sim::RemoteGateways {
                jt808,
                watch,
                http_telemetry,
                gb28181,
                mqtt,
            };
            sim::run_remote(&target, &admin_user, &admin_password, remote, &sim).await
        }
        Command::Bench {
            scenario,
            backend,
            bus,
            quick,
            cases,
            devices,
            messages,
            connections,
            rate,
            seconds,
            mosquitto,
        } => {
            let opts = bench::Options {
                backend,
                bus,
                quick,
                cases,
                devices,
                messages,
                connections,
                rate,
                seconds,
                mosquitto,
                database_url: cli.global.database_url.clone(),
                data_dir: cli.global.data_dir.clone(),
            };
            bench::run(&scenario, opts).await
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            println!(
                "database {} is up to date ({})",
                config.database(),
                store.backend().as_str()
            );
            Ok(())
        }
        Command::Import { what } => import::run(&config, what).await,
        Command::Grid { what } => grid::run(&config, what).await,
        Command::User { what } => user::run(&config, what).await,
    }
}

/// Opens the configured database (creating the data dir for SQLite) and migrates it.
pub async fn open_store(config: &Config) -> anyhow::Result<DynStore> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    }
    let store = chengyun_store::open(&config.database())
        .await
        .with_context(|| format!("cannot open the database {}", redact(&config.database())))?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// The bus a server publishes on, as configured (`[bus]`).
pub struct OpenBus {
    pub bus: chengyun_bus::DynBus,
    /// For the start-up line: `in-process` or `NATS JetStream <url> stream <name> …`.
    pub shown: String,
    #[cfg(feature = "nats")]
    nats: Option<chengyun_bus::NatsBus>,
}

impl OpenBus {
    /// The in-process bus (one server; the demo always).
    pub fn in_process() -> OpenBus {
        OpenBus {
            bus: std::sync::Arc::new(chengyun_bus::InProcessBus::new()),
            shown: "in-process".into(),
            #[cfg(feature = "nats")]
            nats: None,
        }
    }

    /// Waits (at most 5 s) until what was published reached the stream (NATS).
    pub async fn flush(&self) {
        #[cfg(feature = "nats")]
        if let Some(n) = &self.nats {
            match tokio::time::timeout(std::time::Duration::from_secs(5), n.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "bus: cannot flush"),
                Err(_) => tracing::warn!("bus: events still unpublished after 5 s"),
            }
        }
    }
}

/// Opens the configured bus: in-process, or connects to NATS JetStream.
pub async fn open_bus(section: &crate::config::BusSection) -> anyhow::Result<OpenBus> {
    match section.kind.as_str() {
        "inprocess" => Ok(OpenBus::in_process()),
        #[cfg(feature = "nats")]
        "nats" => {
            let config = section.nats()?;
            let nats = chengyun_bus::NatsBus::connect(config.clone())
                .await
                .context("cannot start the NATS bus ([bus] kind = \"nats\")")?;
            Ok(OpenBus {
                shown: format!(
                    "NATS JetStream {} stream {} subjects {}.> (node {})",
                    config.url,
                    config.stream,
                    config.subject_prefix,
                    nats.node_id()
                ),
                bus: std::sync::Arc::new(nats.clone()),
                nats: Some(nats),
            })
        }
        other => anyhow::bail!(
            "bus.kind {other:?}: use inprocess{}",
            if cfg!(feature = "nats") {
                " or nats"
            } else {
                " (this build has no nats feature)"
            }
        ),
    }
}

/// The actor recorded in the audit log for command-line work.
pub fn cli_actor() -> Actor {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "operator".into());
    Actor {
        user_id: None,
        name: format!("cli:{who}"),
        ip: Some("cli".into()),
        request_id: None,
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn init_tracing(config: &Config, server: bool) {
    use tracing_subscriber::EnvFilter;
    // Command-line tools stay quiet unless asked; the server logs at the configured level.
    let default = if server {
        config.log.level.clone()
    } else {
        "warn".to_string()
    };
    let filter = EnvFilter::try_new(&default).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Prints every problem of a failed import and turns it into one error.
pub fn explain_import_error(e: chengyun_services::import::ImportError) -> anyhow::Error {
    use chengyun_services::import::ImportError;
    match e {
        ImportError::Invalid(v) => {
            for p in &v.problems {
                eprintln!("  {}: {}", p.field, p.message);
            }
            let more = if v.problems.len() >= chengyun_domain::ValidationError::LIMIT {
                " (showing the first ones)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "nothing was imported: {} problem(s){more}; fix them and run the import again",
                v.problems.len()
            )
        }
        ImportError::Store(chengyun_store::StoreError::Invalid(v)) => {
            explain_import_error(ImportError::Invalid(v))
        }
        ImportError::Store(s) => anyhow::anyhow!("nothing was imported: {s}"),
    }
}

/// Enables every shipped scenario pack as `actor`, then reloads the city so
/// the packs' local matter classes and dispatch rules take effect (the demo and
/// the benchmarks' servers).
pub async fn enable_all_packs(
    state: &chengyun_api::AppState,
    actor: &chengyun_domain::audit::Actor,
) -> anyhow::Result<()> {
    use anyhow::Context;
    for key in chengyun_domain::iot::packs::keys() {
        state
            .iot()
            .enable_pack(key, actor)
            .await
            .with_context(|| format!("cannot enable scenario pack {key}"))?;
    }
    state
        .reload_city()
        .await
        .context("cannot reload the city after enabling the packs")
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            super::redact("postgres://cy:secret@db:5432/cy"),
            "postgres://cy:***@db:5432/cy"
        );
        assert_eq!(
            super::redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(super::redact("./data/chengyun.db"), "./data/chengyun.db");
    }
}
