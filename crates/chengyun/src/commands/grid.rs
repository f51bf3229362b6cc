//! `chengyun grid generate`: cut an area into ~100 m unit grids.

use super::{cli_actor, explain_import_error, open_store};
use crate::cli::GridWhat;
use crate::config::Config;
use crate::progress;
use anyhow::{anyhow, bail};
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::codes::{AreaLevel, DivisionCode};
use chengyun_domain::page::PageRequest;
use chengyun_store::AreaQuery;

pub async fn run(config: &Config, what: GridWhat) -> anyhow::Result<()> {
    let GridWhat::Generate { area, cell } = what;
    let cell_m = parse_cell(&cell)?;
    let code = DivisionCode::parse(&area).map_err(|e| anyhow!(e.message))?;
    let store = open_store(config).await?;
    let Some(target) = store.area(&code).await? else {
        bail!("area {code} is not stored; import it first with `chengyun import areas`");
    };
    if target.boundary.is_none() {
        bail!(
            "area {code} ({}) has no boundary; import its polygon first",
            target.name
        );
    }
    // The streets and communities inside, to code each cell by the one holding it.
    let mut subs = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let q = AreaQuery {
            within: Some(code.prefix().to_string()),
            ..Default::default()
        };
        let p = store.list_areas(&q, &page).await?;
        subs.extend(p.items.into_iter().filter(|a| {
            a.code != code
                && matches!(a.level, AreaLevel::Street | AreaLevel::Community)
                && a.boundary.is_some()
        }));
        match p.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    // Communities first: a cell goes to the most detailed area that holds it.
    subs.sort_by_key(|a| std::cmp::Reverse(a.level));
    let bar = progress::bar(0, &format!("cutting {} into {cell_m} m grids", target.name));
    let grids = tokio::task::spawn_blocking({
        let bar = bar.clone();
        move || {
            chengyun_geo::grid::generate_with_progress(&target, &subs, cell_m, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
        }
    })
    .await?
    .map_err(|e| anyhow!("{}: {}", e.field, e.message))?;
    bar.finish_and_clear();
    let sp = progress::spinner(&format!("storing {} grids", grids.len()));
    let audit = AuditEvent::new(&cli_actor(), "grid.generate", "grid", code.to_string())
        .with(serde_json::json!({ "cell_m": cell_m, "count": grids.len() }));
    let n = store
        .replace_grids(&code, &grids, &audit)
        .await
        .map_err(|e| explain_import_error(e.into()))?;
    sp.finish_and_clear();
    println!("generated {n} unit grids of {cell_m} m in {code}");
    Ok(())
}

/// `100m`, `100`, `1km`, `0.5km` → metres.
fn parse_cell(s: &str) -> anyhow::Result<f64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, factor) = if let Some(n) = t.strip_suffix("km") {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 1.0)
    } else {
        (t.as_str(), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("cell size {s:?} must look like 100m or 1km"))?;
    let m = v * factor;
    if !(10.0..=10_000.0).contains(&m) {
        bail!("cell size {s:?} must be between 10m and 10km");
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cell_sizes() {
        assert_eq!(super::parse_cell("100m").unwrap(), 100.0);
        assert_eq!(super::parse_cell("1km").unwrap(), 1000.0);
        assert_eq!(super::parse_cell("250").unwrap(), 250.0);
        assert!(super::parse_cell("5m").is_err());
        assert!(super::parse_cell("abc").is_err());
    }
}
