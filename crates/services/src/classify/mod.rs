//! Matter-code suggestions for free Chinese text ("小区门口井盖没了，很危险"
//! → the manhole classes 01001…), each with a score and a reason a clerk can
//! check: which keywords or synonyms matched, what the city's past cases say.
//!
//! Two parts, blended:
//! - [`lexicon`]: keywords and colloquial synonyms per GB/T 47678.5 matter
//!   class (crates/services/data/matter_synonyms.toml), found by longest match;
//! - [`learner`]: n-gram → code counts from the city's own cases, read as
//!   naive Bayes. Its weight grows with the number of cases it has seen, so a
//!   fresh city relies on the lexicon and an established one on its history.
//!
//! No segmentation model: [`tokens`] uses character n-grams (2–4).

pub mod learner;
pub mod lexicon;
pub mod tokens;

pub use learner::Learner;
pub use lexicon::Lexicon;

use chengyun_domain::Invalid;
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::{Catalogue, ClassKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// Cases after which the learnt part weighs as much as the lexicon.
pub const LEARNT_HALF_WEIGHT_CASES: f64 = 50.0;
/// The lexicon always keeps this share, so a well-named keyword is never
/// drowned by history.
pub const MIN_LEXICON_SHARE: f64 = 0.2;

/// One suggested matter class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub code: ClassCode,
    pub name: String,
    /// In 0..=1; the scores of all classes sum to at most 1.
    pub score: f64,
    /// Why, in words: matched keywords, learnt cases.
    pub reason: String,
}

/// Lexicon + learner over one catalogue.
#[derive(Debug, Clone)]
pub struct Classifier {
    lexicon: Lexicon,
    learner: Learner,
    names: BTreeMap<ClassCode, String>,
}

impl Classifier {
    /// The built-in lexicon for the catalogue's matter classes (local
    /// extensions get keywords from their names), nothing learnt yet.
    pub fn new(catalogue: &Catalogue) -> Self {
        Self::with_lexicon(Lexicon::builtin(catalogue), catalogue)
    }

    /// A city-specific lexicon (see [`Lexicon::parse`]).
    pub fn with_lexicon(lexicon: Lexicon, catalogue: &Catalogue) -> Self {
        let names = catalogue
            .iter(ClassKind::Matter)
            .map(|c| (c.code.clone(), c.name.clone()))
            .collect();
        Self {
            lexicon,
            learner: Learner::new(),
            names,
        }
    }

    /// Replaces the learnt counts, e.g. with a saved or rebuilt [`Learner`].
    pub fn set_learner(&mut self, learner: Learner) {
        self.learner = learner;
    }

    pub fn learner(&self) -> &Learner {
        &self.learner
    }

    /// Learns from one case. Codes outside the catalogue are refused so a
    /// suggestion can never name a class the city does not have.
    pub fn learn(&mut self, text: &str, code: &ClassCode) -> Result<(), Invalid> {
        if !self.names.contains_key(code) {
            return Err(Invalid::new(
                "matter_code",
                format!("matter class {code} is not in this city's catalogue; nothing learnt"),
            ));
        }
        self.learner.observe(text, code);
        Ok(())
    }

    /// Up to `limit` classes, best first (equal scores by code). Empty when
    /// nothing in the text points anywhere: no guess is better than a wrong
    /// one presented as a suggestion.
    pub fn suggest(&self, text: &str, limit: usize) -> Vec<Suggestion> {
        if limit == 0 {
            return Vec::new();
        }
        // Lexicon: each class gets the weight of its matched keywords.
        let mut lex: BTreeMap<ClassCode, (f64, Vec<String>)> = BTreeMap::new();
        for hit in self.lexicon.scan(text) {
            for code in &hit.classes {
                let entry = lex.entry(code.clone()).or_default();
                entry.0 += hit.weight;
                entry.1.push(hit.keyword.clone());
            }
        }
        let lex_total: f64 = lex.values().map(|(w, _)| w).sum();
        let learnt = self.learner.posterior(text);
        let lambda = if learnt.is_empty() {
            0.0
        } else {
            let n = self.learner.total_cases() as f64;
            (n / (n + LEARNT_HALF_WEIGHT_CASES)).min(1.0 - MIN_LEXICON_SHARE)
        };
        // Without a keyword the learnt part stands alone, at its own weight.
        let lex_share = if lex.is_empty() { 0.0 } else { 1.0 - lambda };

        let mut scored: BTreeMap<ClassCode, (f64, Vec<String>)> = BTreeMap::new();
        for (code, (w, words)) in &lex {
            let entry = scored.entry(code.clone()).or_default();
            entry.0 += lex_share * w / lex_total;
            entry.1.push(format!("keywords {}", words.join("、")));
        }
        for l in &learnt {
            let share = lambda * l.probability;
            // Classes the past cases give almost no chance are not worth a line.
            if share < 1e-4 {
                continue;
            }
            let entry = scored.entry(l.code.clone()).or_default();
            entry.0 += share;
            let phrases: Vec<&str> = l.shared.iter().take(3).map(String::as_str).collect();
            let case_word = if l.cases == 1 { "case" } else { "cases" };
            entry.1.push(if phrases.is_empty() {
                format!("learnt from {} past {case_word}", l.cases)
            } else {
                format!(
                    "learnt from {} past {case_word} (shared phrases {})",
                    l.cases,
                    phrases.join("、")
                )
            });
        }
        let mut out: Vec<Suggestion> = scored
            .into_iter()
            .filter_map(|(code, (score, reasons))| {
                let name = self.names.get(&code)?.clone();
                Some(Suggestion {
                    code,
                    name,
                    score,
                    reason: reasons.join("; "),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.code.cmp(&b.code))
        });
        out.truncate(limit);
        out
    }
}
