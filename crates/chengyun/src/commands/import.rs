//! `chengyun import …`: files into the city model, all or nothing.

use super::{cli_actor, explain_import_error, open_store};
use crate::cli::ImportWhat;
use crate::config::Config;
use crate::progress;
use anyhow::{Context, anyhow};
use chengyun_domain::standard::Catalogue;
use chengyun_geo::{Crs, Locator};
use chengyun_services::import::{self, ComponentFormat, ImportReport};
use chengyun_store::Store;
use std::path::Path;

pub async fn run(config: &Config, what: ImportWhat) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let actor = cli_actor();
    let store = store.as_ref();
    let report = match what {
        ImportWhat::Areas { file, crs } => {
            let bytes = read(&file)?;
            let sp = progress::spinner(&format!("importing areas from {}", file.display()));
            let r = if is_csv(&file) {
                import::import_area_codes_csv(store, &bytes, &actor).await
            } else {
                import::import_areas(store, &bytes, parse_crs(&crs)?, &actor).await
            };
            sp.finish_and_clear();
            r
        }
        ImportWhat::Grids { file, crs } => {
            let bytes = read(&file)?;
            let crs = parse_crs(&crs)?;
            let sp = progress::spinner("loading areas");
            let locator = locator(store).await?;
            sp.set_message(format!("importing grids from {}", file.display()));
            let r = import::import_grids(store, &bytes, crs, &locator, &actor).await;
            sp.finish_and_clear();
            r
        }
        ImportWhat::ResponsibilityGrids { file, crs } => {
            let bytes = read(&file)?;
            import::import_responsibility_grids(store, &bytes, parse_crs(&crs)?, &actor).await
        }
        ImportWhat::Departments { file } => {
            let bytes = read(&file)?;
            import::import_departments_csv(store, &bytes, &actor).await
        }
        ImportWhat::Staff { file } => {
            let bytes = read(&file)?;
            import::import_staff_csv(store, &bytes, &actor).await
        }
        ImportWhat::Components { file, crs, format } => {
            let bytes = read(&file)?;
            let crs = parse_crs(&crs)?;
            let format = match format {
                Some(f) => ComponentFormat::parse(&f).map_err(|e| anyhow!(e.message))?,
                None => {
                    ComponentFormat::from_path(&file.display().to_string()).ok_or_else(|| {
                        anyhow!(
                            "cannot tell the format of {} from its name; pass --format csv|geojson",
                            file.display()
                        )
                    })?
                }
            };
            let sp = progress::spinner("loading grids and classes");
            let locator = locator(store).await?;
            let mut catalogue = Catalogue::national();
            for class in store.local_classes().await? {
                catalogue
                    .extend(class)
                    .map_err(|e| anyhow!("a stored local class is invalid: {e}"))?;
            }
            sp.set_message(format!("importing components from {}", file.display()));
            let r =
                import::import_components(store, &bytes, format, crs, &catalogue, &locator, &actor)
                    .await;
            sp.finish_and_clear();
            r
        }
    };
    let ImportReport { kind, count } = report.map_err(explain_import_error)?;
    println!("imported {count} {kind}");
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

fn parse_crs(s: &str) -> anyhow::Result<Crs> {
    Crs::parse(s).map_err(|e| anyhow!(e.message))
}

/// The spatial index over what is stored now.
pub async fn locator(store: &dyn Store) -> anyhow::Result<Locator> {
    let areas = store.all_areas().await?;
    let grids = store.all_grids().await?;
    Ok(Locator::build(&areas, &grids))
}
