//! The classifier glue: [`Classifier`] answers the case service's
//! [`MatterClassifier`], and a service can learn from the city's own stored
//! cases when it starts (bounded to the newest `last` cases, so start-up
//! stays quick however many years are stored).

use super::{CaseError, CaseService, MatterClassifier, MatterSuggestion};
use crate::classify::Classifier;
use chengyun_domain::codes::ClassCode;
use chengyun_domain::page::PageRequest;
use chengyun_domain::standard::Catalogue;
use std::sync::Arc;

impl MatterClassifier for Classifier {
    fn suggest(&self, text: &str, limit: usize) -> Vec<MatterSuggestion> {
        Classifier::suggest(self, text, limit)
            .into_iter()
            .map(|s| MatterSuggestion {
                code: s.code.to_string(),
                name: s.name,
                score: s.score,
                reason: s.reason,
            })
            .collect()
    }
}

/// What [`CaseService::with_learnt_classifier`] learnt from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnReport {
    /// Cases read (newest first).
    pub read: usize,
    /// Cases learnt from (with a matter code of the catalogue and some text).
    pub learnt: usize,
}

impl CaseService {
    /// The same service suggesting matter codes with a [`Classifier`] over
    /// `catalogue` that has learnt from the newest `last` stored cases with a
    /// matter code (title and description → code). Cases whose code is not
    /// in the catalogue (a retired local class) are skipped, not an error.
    pub async fn with_learnt_classifier(
        &self,
        catalogue: &Catalogue,
        last: usize,
    ) -> Result<(Self, LearnReport), CaseError> {
        let mut classifier = Classifier::new(catalogue);
        let mut report = LearnReport { read: 0, learnt: 0 };
        let mut page = PageRequest::first(500);
        while report.read < last {
            page.limit = u32::try_from((last - report.read).min(500)).unwrap_or(500);
            let got = self.store().list_cases(&Default::default(), &page).await?;
            for case in &got.items {
                report.read += 1;
                let Some(code) = case
                    .data
                    .matter_code
                    .as_deref()
                    .and_then(|c| ClassCode::parse(c).ok())
                else {
                    continue;
                };
                let text = format!("{} {}", case.data.title, case.data.description);
                if text.trim().is_empty() {
                    continue;
                }
                if classifier.learn(&text, &code).is_ok() {
                    report.learnt += 1;
                }
            }
            match got.next {
                Some(next) if !got.items.is_empty() => page.after = Some(next),
                _ => break,
            }
        }
        Ok((self.with_classifier(Arc::new(classifier)), report))
    }
}
