//! What the city's own past cases teach: n-gram → matter code counts, read
//! as a multinomial naive Bayes model with add-α smoothing. Plain counts,
//! so the model is rebuilt from stored cases by replaying them and can be
//! saved as JSON between runs.

use super::tokens::ngrams;
use chengyun_domain::codes::ClassCode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Laplace smoothing: an n-gram never seen with a class still has a small
/// chance, so one missing phrase does not veto a class.
const ALPHA: f64 = 1.0;

/// The learnt counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Learner {
    /// n-gram → class → occurrences.
    grams: HashMap<String, BTreeMap<ClassCode, u32>>,
    /// class → cases observed.
    cases: BTreeMap<ClassCode, u32>,
    /// class → n-grams observed (with repeats), the NB denominator.
    gram_totals: BTreeMap<ClassCode, u64>,
}

/// The learnt view of one class for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Learnt {
    pub code: ClassCode,
    /// Posterior probability among the classes seen in training.
    pub probability: f64,
    /// Past cases of this class.
    pub cases: u32,
    /// Text n-grams seen with this class in training, longest first.
    pub shared: Vec<String>,
}

impl Learner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one case: its text's n-grams under its matter code. Texts
    /// with no letters teach nothing and are ignored.
    pub fn observe(&mut self, text: &str, code: &ClassCode) {
        let grams = ngrams(text);
        if grams.is_empty() {
            return;
        }
        *self.cases.entry(code.clone()).or_insert(0) += 1;
        *self.gram_totals.entry(code.clone()).or_insert(0) += grams.len() as u64;
        for g in grams {
            *self
                .grams
                .entry(g)
                .or_default()
                .entry(code.clone())
                .or_insert(0) += 1;
        }
    }

    /// Cases observed in total.
    pub fn total_cases(&self) -> u64 {
        self.cases.values().map(|&n| u64::from(n)).sum()
    }

    pub fn vocabulary(&self) -> usize {
        self.grams.len()
    }

    /// Posterior per trained class for `text`, highest first (ties by
    /// code). Empty when the text shares no n-gram with anything learnt:
    /// the prior alone is not evidence about this text.
    pub fn posterior(&self, text: &str) -> Vec<Learnt> {
        let grams = ngrams(text);
        let known: Vec<(&String, &BTreeMap<ClassCode, u32>)> = grams
            .iter()
            .filter_map(|g| self.grams.get_key_value(g))
            .collect();
        if known.is_empty() {
            return Vec::new();
        }
        let total = self.total_cases() as f64;
        let vocab = self.grams.len() as f64;
        let mut logs: Vec<(ClassCode, f64, u32, Vec<String>)> = Vec::new();
        for (code, &cases) in &self.cases {
            let denom = self.gram_totals.get(code).copied().unwrap_or(0) as f64 + ALPHA * vocab;
            let mut lp = (f64::from(cases) / total).ln();
            let mut shared: Vec<String> = Vec::new();
            for (g, per_class) in &known {
                let c = per_class.get(code).copied().unwrap_or(0);
                lp += ((f64::from(c) + ALPHA) / denom).ln();
                if c > 0 && !shared.contains(g) {
                    shared.push((*g).clone());
                }
            }
            logs.push((code.clone(), lp, cases, shared));
        }
        let max = logs
            .iter()
            .map(|(_, lp, ..)| *lp)
            .fold(f64::NEG_INFINITY, f64::max);
        let norm: f64 = logs.iter().map(|(_, lp, ..)| (lp - max).exp()).sum();
        let mut out: Vec<Learnt> = logs
            .into_iter()
            .map(|(code, lp, cases, mut shared)| {
                shared.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
                Learnt {
                    code,
                    probability: (lp - max).exp() / norm,
                    cases,
                    shared,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then_with(|| a.code.cmp(&b.code))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> ClassCode {
        ClassCode::parse(s).unwrap()
    }

    #[test]
    fn counts_make_the_trained_class_most_likely() {
        let mut l = Learner::new();
        for _ in 0..3 {
            l.observe("黑车在站口拉客", &code("09009"));
        }
        l.observe("广场舞太吵", &code("06028"));
        let p = l.posterior("又有黑车拉客");
        assert_eq!(p[0].code, code("09009"));
        assert!(p[0].probability > 0.9, "{p:?}");
        assert_eq!(p[0].cases, 3);
        assert!(p[0].shared.contains(&"黑车".to_string()));
        let sum: f64 = p.iter().map(|x| x.probability).sum();
        assert!((sum - 1.0).abs() < 1e-9);
    }

    #[test]
    fn unknown_text_gives_no_evidence() {
        let mut l = Learner::new();
        l.observe("广场舞太吵", &code("06028"));
        assert!(l.posterior("路灯").is_empty());
        assert!(l.posterior("").is_empty());
        l.observe("。。。", &code("06028"));
        assert_eq!(l.total_cases(), 1, "a text without letters teaches nothing");
    }

    #[test]
    fn round_trips_through_json() {
        let mut l = Learner::new();
        l.observe("井盖没了", &code("01002"));
        let json = serde_json::to_string(&l).unwrap();
        let back: Learner = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.vocabulary(), l.vocabulary());
    }
}
