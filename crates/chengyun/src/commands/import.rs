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
        ImportWhat::Cases {
            file,
            layout,
            fallback_matter,
            department_map,
            center,
            days,
        } => {
            let options = CaseImportArgs {
                layout,
                fallback_matter,
                department_map,
                center,
                days,
            };
            return import_cases(config, store, &file, options).await;
        }
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

struct CaseImportArgs {
    layout: String,
    fallback_matter: Option<String>,
    department_map: Option<std::path::PathBuf>,
    center: Option<String>,
    days: u32,
}

/// Reads `agency,department_code` lines (a header line naming those two
/// columns and lines starting with `#` are skipped).
fn read_department_map(path: &Path) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the department map {}", path.display()))?;
    let mut map = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((agency, code)) = line.rsplit_once(',') else {
            anyhow::bail!(
                "{} line {}: expected `agency,department_code`, found {line:?}",
                path.display(),
                i + 1
            );
        };
        let (agency, code) = (
            agency.trim().trim_matches('"'),
            code.trim().trim_matches('"'),
        );
        if i == 0 && agency.eq_ignore_ascii_case("agency") {
            continue;
        }
        if agency.is_empty() || code.is_empty() {
            anyhow::bail!(
                "{} line {}: the agency and the department code must not be empty",
                path.display(),
                i + 1
            );
        }
        map.insert(agency.to_string(), code.to_string());
    }
    Ok(map)
}

async fn import_cases(
    config: &Config,
    store: &dyn chengyun_store::Database,
    file: &Path,
    args: CaseImportArgs,
) -> anyhow::Result<()> {
    use chengyun_services::case::{
        CaseActor, CaseConfig, CaseService, HistoryImportOptions, StaticCity,
    };
    use chengyun_services::history::{self, DeadlinePolicy, Layout};
    let mut layout = match args.layout.trim() {
        "la311-2018" => Layout::la311_2018(),
        "la311-2020" => Layout::la311_2020(),
        "nyc311" => Layout::nyc311(),
        "chengyun" => Layout::chengyun(),
        other => anyhow::bail!(
            "unknown layout {other:?}; use la311-2018, la311-2020, nyc311 or chengyun"
        ),
    };
    if let Some(code) = &args.fallback_matter {
        let code = chengyun_domain::codes::ClassCode::parse(code.trim())
            .map_err(|e| anyhow!("--fallback-matter: {}", e.message))?;
        layout.categories.fallback = Some(code);
    }
    let department_map = match &args.department_map {
        Some(p) => read_department_map(p)?,
        None => Default::default(),
    };
    let sp = progress::spinner("loading the city model");
    let locator = locator(store).await?;
    let mut catalogue = Catalogue::national();
    for class in store.local_classes().await? {
        catalogue
            .extend(class)
            .map_err(|e| anyhow!("a stored local class is invalid: {e}"))?;
    }
    sp.set_message(format!("reading {}", file.display()));
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let jsonl = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"));
    let outcome = if jsonl {
        history::import_json_lines(std::io::BufReader::new(input), &layout, &catalogue)
    } else {
        history::import_csv(input, &layout, &catalogue)
    }
    .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    sp.finish_and_clear();

    let store_arc = open_store(config).await?;
    let bus: chengyun_bus::DynBus = std::sync::Arc::new(chengyun_bus::InProcessBus::new());
    let city = std::sync::Arc::new(StaticCity { locator, catalogue });
    let service = CaseService::new(store_arc, bus, city, CaseConfig::new(&config.data_dir))
        .await
        .map_err(|e| anyhow!("cannot start the case service: {e}"))?;
    let actor = CaseActor {
        context: chengyun_domain::case::workflow::ActorContext::system(),
        audit: cli_actor(),
    };
    let options = HistoryImportOptions {
        deadline: DeadlinePolicy::due_or_days(args.days),
        department_map,
        fallback_center: args.center.clone(),
    };
    let bar = progress::bar(outcome.cases.len() as u64, "preparing cases");
    let report = service
        .import_history_with_progress(&outcome, &options, &actor, |n| bar.set_position(n))
        .await
        .map_err(|e| anyhow!("nothing was imported: {e}"))?;
    bar.finish_and_clear();

    println!(
        "{}: {} rows; imported {} cases, {} already imported, {} rejected",
        report.source_system,
        report.total_rows,
        report.imported,
        report.already_imported,
        report.rejected.len()
    );
    println!("managed by {}", report.center);
    if report.outside_city > 0 {
        println!(
            "{} cases lie outside every area of this city: kept with their coordinates, without grid or area",
            report.outside_city
        );
    }
    if report.without_location > 0 {
        println!("{} cases have no coordinates", report.without_location);
    }
    for (agency, n) in &report.unmapped_departments {
        println!(
            "agency {agency:?} not in the department map: {n} cases handled by {}",
            report.center
        );
    }
    if !report.rejected.is_empty() {
        println!("rejected rows by reason:");
        for (kind, n) in &report.rejections_by_kind {
            println!("  {kind:?}: {n}");
        }
        println!("first rejected rows:");
        for r in report.rejected.iter().take(20) {
            let reasons: Vec<String> = r
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.reason))
                .collect();
            println!(
                "  line {} {}: {}",
                r.line,
                r.external_id.as_deref().unwrap_or("-"),
                reasons.join("; ")
            );
        }
    }
    Ok(())
}
