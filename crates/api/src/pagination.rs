//! Cursor pagination for every list: `?limit=` (default 50, at most 500) and
//! `?cursor=` (opaque: base64url of the store's key of the last item), answered
//! as `{"items": [...], "next_cursor": "..." | null}`.

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chengyun_domain::Invalid;
use chengyun_domain::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The page parameters every list accepts.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; omit for the first page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The store's page request, or `invalid_input` for a bad limit or cursor.
    pub fn to_request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
        if limit == 0 || limit > PageRequest::MAX_LIMIT {
            return Err(Invalid::new(
                "limit",
                format!("limit {limit} must be 1-{}", PageRequest::MAX_LIMIT),
            )
            .into());
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest { after, limit })
    }
}

/// The opaque form of a store key.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The store key inside a cursor.
pub fn decode_cursor(cursor: &str) -> Result<String, Invalid> {
    let bad = || {
        Invalid::new(
            "cursor",
            "the cursor is not one this server handed out; pass next_cursor unchanged",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for Paged<T> {
    fn from(p: Page<T>) -> Self {
        Paged {
            items: p.items,
            next_cursor: p.next.as_deref().map(encode_cursor),
        }
    }
}

/// Pages a list held in memory (ordered by `key`), the same way the store does.
pub fn page_in_memory<T>(
    items: impl IntoIterator<Item = T>,
    req: &PageRequest,
    key: impl Fn(&T) -> String,
) -> Page<T> {
    let limit = req.limit();
    let rows: Vec<T> = items
        .into_iter()
        .filter(|item| match &req.after {
            Some(after) => key(item).as_str() > after.as_str(),
            None => true,
        })
        .take(limit as usize + 1)
        .collect();
    Page::from_rows(rows, limit, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("360602001");
        assert_eq!(decode_cursor(&c).unwrap(), "360602001");
        assert!(decode_cursor("***").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])).is_err());
    }

    #[test]
    fn limits_are_checked() {
        let p = PageParams::default().to_request().unwrap();
        assert_eq!(p.limit, 50);
        for bad in [0, 501] {
            let e = PageParams {
                limit: Some(bad),
                cursor: None,
            }
            .to_request()
            .unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidInput);
        }
    }

    #[test]
    fn in_memory_pages_walk_without_gaps() {
        let items: Vec<String> = (0..7).map(|i| format!("k{i}")).collect();
        let mut seen = Vec::new();
        let mut req = PageRequest::first(3);
        loop {
            let page = page_in_memory(items.clone(), &req, |s| s.clone());
            seen.extend(page.items);
            match page.next {
                Some(n) => req.after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }
}
