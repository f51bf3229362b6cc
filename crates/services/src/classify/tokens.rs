//! Chinese text into comparable pieces without a segmentation model:
//! segments split at punctuation and spaces, character n-grams inside them.
//! Character n-grams need no dictionary download and work on the short,
//! colloquial texts people send (e.g. "井盖没了" yields 井盖, 盖没, 没了, 井盖没, …).

/// The longest input considered. Complaints are a few sentences; a cap keeps
/// the cost of one suggestion bounded whatever a client sends.
pub const MAX_CHARS: usize = 2_000;

/// Shortest and longest n-gram the learner counts.
pub const MIN_GRAM: usize = 2;
pub const MAX_GRAM: usize = 4;

/// Splits `text` into runs of letters and digits (CJK included), lower-casing
/// ASCII and folding full-width ASCII forms, truncated at [`MAX_CHARS`].
pub fn segments(text: &str) -> Vec<Vec<char>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for c in text.chars().take(MAX_CHARS) {
        let c = fold(c);
        if c.is_alphanumeric() {
            current.push(c);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn fold(c: char) -> char {
    // Full-width ASCII (Ａ, １) to half-width, so "ＳＯＳ" matches "sos".
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    c.to_ascii_lowercase()
}

/// Character n-grams of lengths `MIN_GRAM..=MAX_GRAM` inside each segment,
/// in text order; a segment shorter than `MIN_GRAM` yields itself when it is
/// a CJK character (a one-character complaint is still a signal).
pub fn ngrams(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in segments(text) {
        if seg.len() < MIN_GRAM {
            out.push(seg.iter().collect());
            continue;
        }
        for start in 0..seg.len() {
            for n in MIN_GRAM..=MAX_GRAM {
                if start + n <= seg.len() {
                    out.push(seg[start..start + n].iter().collect());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_at_punctuation_and_fold_case() {
        let s = segments("小区门口井盖没了，很危险！ＳＯＳ");
        let s: Vec<String> = s.iter().map(|v| v.iter().collect()).collect();
        assert_eq!(s, vec!["小区门口井盖没了", "很危险", "sos"]);
        assert!(segments("，。！ ").is_empty());
    }

    #[test]
    fn ngrams_cover_two_to_four_characters() {
        let g = ngrams("井盖没了");
        for want in ["井盖", "井盖没", "井盖没了", "盖没", "盖没了", "没了"] {
            assert!(g.iter().any(|x| x == want), "{want} missing from {g:?}");
        }
        assert_eq!(g.len(), 6);
        assert_eq!(ngrams("吵"), vec!["吵".to_string()]);
    }

    #[test]
    fn long_input_is_capped() {
        let long = "井".repeat(MAX_CHARS * 3);
        assert_eq!(segments(&long)[0].len(), MAX_CHARS);
    }
}
