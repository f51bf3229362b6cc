//! `chengyun demo`: a generated city on the embedded database, served at once.

use super::open_store;
use super::serve::serve_demo_store;
use crate::config::Config;
use crate::progress;
use anyhow::Context;
use chengyun_domain::codes::DivisionCode;
use chengyun_sim::city::{self, CitySpec};

pub async fn run(
    config: Config,
    seed: u64,
    components: usize,
    fresh: bool,
    sim: Option<crate::cli::SimArgs>,
) -> anyhow::Result<()> {
    if fresh && config.data_dir.exists() {
        std::fs::remove_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot remove the old demo data in {}",
                config.data_dir.display()
            )
        })?;
    }
    let store = open_store(&config).await?;
    let spec = CitySpec {
        seed,
        components,
        ..CitySpec::default()
    };
    let city_code = DivisionCode::parse(city::CITY_CODE).map_err(|e| anyhow::anyhow!(e.message))?;
    if store.area(&city_code).await?.is_none() {
        let sp = progress::spinner("generating the demo city");
        let report = city::generate(store.as_ref(), &spec, &|step| {
            sp.set_message(format!("generating the demo city: {step}"))
        })
        .await
        .context("cannot generate the demo city")?;
        sp.finish_and_clear();
        println!(
            "generated 演示市: {} districts, {} streets, {} communities, {} unit grids, {} departments, {} components",
            report.districts,
            report.streets,
            report.communities,
            report.grids,
            report.departments,
            report.components
        );
    } else {
        println!(
            "using the demo city already in {} (pass --fresh to generate anew)",
            config.data_dir.display()
        );
    }
    let users = city::users(&city::areas(&spec));
    println!("demo users (password: {}):", spec.password);
    for u in &users {
        println!(
            "  {:<22} {:<10} {}",
            u.username,
            u.role.label_zh(),
            u.display_name
        );
    }
    println!(
        "big screen: http://{}/screen   workbench: http://{}/   report: http://{}/report",
        config.listen, config.listen, config.listen
    );
    // The simulator starts as soon as the server answers, so the big screen is alive
    // within seconds; it stops with the process.
    if let Some(args) = sim {
        let listen = config.listen;
        let password = spec.password.clone();
        tokio::spawn(async move {
            if let Err(e) = super::sim::run_in_demo(listen, args, password).await {
                eprintln!("simulator: {e:#}");
            }
        });
    }
    // The demo opens the device side too: the JT/T 808 and watch gateways
    // on 127.0.0.1:6808/6809 and the embedded MQTT broker (127.0.0.1:1884)
    // unless configured otherwise; every scenario pack is enabled.
    let mut config = config;
    // Alarms go straight to the responsible demo department (unless the config
    // names others): hints whose department this city lacks are left out.
    if config.iot.departments.is_empty() {
        for (hint, code) in city::PACK_DEPARTMENTS {
            if store.department(code).await?.is_some() {
                config
                    .iot
                    .departments
                    .insert(hint.to_string(), code.to_string());
            }
        }
    }
    if config.ingest.jt808_listen.is_none() {
        config.ingest.jt808_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 6808)));
    }
    if config.ingest.watch_listen.is_none() {
        config.ingest.watch_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 6809)));
    }
    if config.mqtt.mode == "off" {
        config.mqtt.mode = "embedded".into();
    }
    serve_demo_store(&config, store).await
}
