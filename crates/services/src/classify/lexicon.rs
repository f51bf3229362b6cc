//! Keywords and synonyms per matter class, and the longest-match scan that
//! finds them in a text.

use super::tokens::segments;
use chengyun_domain::Invalid;
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::{Catalogue, ClassKind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The lexicon shipped with chengyun (crates/services/data/matter_synonyms.toml).
pub const BUILTIN: &str = include_str!("../../data/matter_synonyms.toml");

#[derive(Debug, Deserialize)]
struct File {
    #[serde(rename = "class")]
    classes: Vec<FileClass>,
}

#[derive(Debug, Deserialize)]
struct FileClass {
    code: String,
    #[serde(default)]
    keywords: Vec<String>,
}

/// A keyword found in the text, after longer overlapping keywords won.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub keyword: String,
    /// Specificity: longer keywords and keywords of fewer classes weigh more.
    pub weight: f64,
    pub classes: Vec<ClassCode>,
}

/// Keyword → classes, plus the derived weights.
#[derive(Debug, Clone)]
pub struct Lexicon {
    keywords: HashMap<String, Vec<ClassCode>>,
    longest: usize,
}

impl Lexicon {
    /// Reads a lexicon file and keeps the classes the catalogue knows;
    /// catalogue matter classes the file does not list (a city's local
    /// extensions) get keywords derived from their names.
    pub fn parse(toml_text: &str, catalogue: &Catalogue) -> Result<Self, Invalid> {
        let file: File = toml::from_str(toml_text)
            .map_err(|e| Invalid::new("lexicon", format!("not a valid lexicon file: {e}")))?;
        let mut per_class: BTreeMap<ClassCode, Vec<String>> = BTreeMap::new();
        for (i, class) in file.classes.into_iter().enumerate() {
            let code = ClassCode::parse(&class.code).map_err(|e| e.at(format!("class[{i}]")))?;
            if catalogue.get(ClassKind::Matter, &code).is_none() {
                // A lexicon may cover classes a city has not enabled.
                continue;
            }
            per_class.entry(code).or_default().extend(class.keywords);
        }
        for class in catalogue.iter(ClassKind::Matter) {
            per_class
                .entry(class.code.clone())
                .or_default()
                .extend(name_keywords(&class.name));
        }
        let mut keywords: HashMap<String, Vec<ClassCode>> = HashMap::new();
        for (code, words) in per_class {
            for word in words {
                let key: String = segments(&word).into_iter().flatten().collect();
                if key.chars().count() < 2 {
                    continue;
                }
                let entry = keywords.entry(key).or_default();
                if !entry.contains(&code) {
                    entry.push(code.clone());
                }
            }
        }
        for classes in keywords.values_mut() {
            classes.sort();
        }
        let longest = keywords
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0);
        Ok(Self { keywords, longest })
    }

    /// The built-in lexicon for `catalogue`.
    pub fn builtin(catalogue: &Catalogue) -> Self {
        Self::parse(BUILTIN, catalogue).expect("the built-in lexicon is valid (tested)")
    }

    pub fn len(&self) -> usize {
        self.keywords.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty()
    }

    /// Keywords found in `text`. Where keywords overlap, a keyword lying
    /// inside a longer found one is dropped ("路灯井盖" hides "路灯" and
    /// "井盖"), so the most specific reading wins. Each keyword counts once.
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        let mut spans: Vec<(usize, usize, usize, &str)> = Vec::new();
        for (seg_no, seg) in segments(text).iter().enumerate() {
            for start in 0..seg.len() {
                let max = self.longest.min(seg.len() - start);
                for n in (2..=max).rev() {
                    let piece: String = seg[start..start + n].iter().collect();
                    if let Some((key, _)) = self.keywords.get_key_value(&piece) {
                        spans.push((seg_no, start, start + n, key.as_str()));
                    }
                }
            }
        }
        let kept: Vec<&(usize, usize, usize, &str)> = spans
            .iter()
            .filter(|(seg, s, e, _)| {
                !spans.iter().any(|(seg2, s2, e2, _)| {
                    seg2 == seg && s2 <= s && e <= e2 && (e2 - s2) > (e - s)
                })
            })
            .collect();
        let mut hits: Vec<Hit> = Vec::new();
        for (_, s, e, key) in kept {
            if hits.iter().any(|h| h.keyword == *key) {
                continue;
            }
            let classes = self.keywords.get(*key).cloned().unwrap_or_default();
            let len = (e - s) as f64;
            let weight = len.powf(1.5) / (classes.len() as f64).sqrt();
            hits.push(Hit {
                keyword: (*key).to_string(),
                weight,
                classes,
            });
        }
        hits
    }
}

/// Keywords read off a class name: the name without "异常", bracketed
/// alternatives expanded ("道路遗撒（洒）" → 道路遗撒, 道路遗洒), lists split
/// at "、".
pub fn name_keywords(name: &str) -> Vec<String> {
    let base = name.strip_suffix("异常").unwrap_or(name);
    let mut out = Vec::new();
    if let (Some(open), Some(close)) = (base.find('（'), base.find('）'))
        && open < close
    {
        let before = &base[..open];
        let inner = &base[open + '（'.len_utf8()..close];
        let after = &base[close + '）'.len_utf8()..];
        out.push(format!("{before}{after}"));
        for alt in inner.split(['、', '，', ',']) {
            let last = before.chars().last();
            if alt.chars().count() == 1 && last.is_some() {
                let stem: String = before.chars().take(before.chars().count() - 1).collect();
                out.push(format!("{stem}{alt}{after}"));
            } else {
                out.push(format!("{before}{alt}{after}"));
            }
        }
    } else if base.contains('、') {
        out.extend(
            base.split('、')
                .filter(|p| p.chars().count() >= 2)
                .map(str::to_string),
        );
    } else {
        out.push(base.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lexicon_covers_every_national_matter_class() {
        let cat = Catalogue::national();
        let file: File = toml::from_str(BUILTIN).unwrap();
        assert_eq!(file.classes.len(), 250);
        for class in cat.iter(ClassKind::Matter) {
            let entry = file
                .classes
                .iter()
                .find(|c| c.code == class.code.as_str())
                .unwrap_or_else(|| panic!("{} missing from the lexicon", class.code));
            assert!(!entry.keywords.is_empty(), "{} has no keywords", class.code);
        }
        let lex = Lexicon::builtin(&cat);
        assert!(lex.len() > 1_000, "{} keywords", lex.len());
    }

    #[test]
    fn names_expand_brackets_and_lists() {
        assert_eq!(
            name_keywords("道路遗撒（洒）"),
            vec!["道路遗撒", "道路遗洒"]
        );
        assert_eq!(
            name_keywords("车辆加油（气、电）站异常"),
            vec!["车辆加油站", "车辆加气站", "车辆加电站"]
        );
        assert_eq!(
            name_keywords("环卫工具间（箱）异常"),
            vec!["环卫工具间", "环卫工具箱"]
        );
        assert_eq!(
            name_keywords("临街阳台、屋顶脏乱差"),
            vec!["临街阳台", "屋顶脏乱差"]
        );
        assert_eq!(name_keywords("路灯异常"), vec!["路灯"]);
    }

    #[test]
    fn longer_keywords_hide_the_ones_inside_them() {
        let lex = Lexicon::builtin(&Catalogue::national());
        let hits = lex.scan("路灯井盖坏了");
        let words: Vec<&str> = hits.iter().map(|h| h.keyword.as_str()).collect();
        assert!(words.contains(&"路灯井盖"), "{words:?}");
        assert!(
            !words.contains(&"路灯") && !words.contains(&"井盖"),
            "{words:?}"
        );
        assert!(lex.scan("").is_empty());
        assert!(lex.scan("!!!???").is_empty());
    }

    #[test]
    fn a_bad_lexicon_file_is_an_error_not_a_panic() {
        let cat = Catalogue::national();
        assert!(Lexicon::parse("[[class]]\ncode = 5", &cat).is_err());
        let err = Lexicon::parse("[[class]]\ncode = \"abc\"\nkeywords = []", &cat).unwrap_err();
        assert_eq!(err.field, "class[0].class_code");
    }
}
