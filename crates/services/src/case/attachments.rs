//! Attachments (photos, documents): bytes go to an [`ObjectStore`] under a
//! content address (`sha256/ab/abcdef…`), so the same photo uploaded twice is
//! stored once; metadata goes to the store. The type is decided by the
//! bytes' magic numbers (JPEG, PNG, WebP, PDF), never by what the client says.

use super::{CaseActor, CaseError, CaseService};
use async_trait::async_trait;
use chengyun_domain::audit::AuditEvent;
use chengyun_store::AttachmentMeta;
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};

/// Where attachment bytes live: the data directory now, an S3-like store later.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `bytes` under `key` (replacing nothing: keys are content addresses).
    async fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    async fn get(&self, key: &str) -> io::Result<Vec<u8>>;
    async fn exists(&self, key: &str) -> io::Result<bool>;
}

/// Files under a directory; writes go to a temporary file renamed into place,
/// so a crash never leaves a half-written object under its final name.
#[derive(Debug, Clone)]
pub struct DiskObjectStore {
    root: PathBuf,
}

impl DiskObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        let ok = !key.is_empty()
            && key
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..")
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-' || b == b'_');
        if !ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("object key {key:?} is not a plain relative path"),
            ));
        }
        Ok(self.root.join(Path::new(key)))
    }
}

#[async_trait]
impl ObjectStore for DiskObjectStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    }

    async fn get(&self, key: &str) -> io::Result<Vec<u8>> {
        tokio::fs::read(self.path(key)?).await
    }

    async fn exists(&self, key: &str) -> io::Result<bool> {
        tokio::fs::try_exists(self.path(key)?).await
    }
}

/// The content type of `bytes` by their magic numbers: JPEG, PNG, WebP or
/// PDF; `None` for anything else.
pub fn sniff_content_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

impl CaseService {
    /// Stores an uploaded file and its metadata; answers the metadata (its
    /// `id` is what intake and actions name in `attachments`). Refuses files
    /// over the size limit (`TooLarge`) and of any type but JPEG, PNG, WebP
    /// and PDF as sniffed from the bytes (`Invalid`).
    pub async fn upload_attachment(
        &self,
        file_name: &str,
        bytes: &[u8],
        actor: &CaseActor,
    ) -> Result<AttachmentMeta, CaseError> {
        let max = self.config().max_attachment_bytes;
        if bytes.len() > max {
            return Err(CaseError::TooLarge(format!(
                "attachment {file_name:?} has {} bytes; at most {max} are accepted",
                bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Err(CaseError::invalid(
                "file",
                format!("attachment {file_name:?} is empty"),
            ));
        }
        let content_type = sniff_content_type(bytes).ok_or_else(|| {
            CaseError::invalid(
                "file",
                format!(
                    "attachment {file_name:?} is not a JPEG, PNG, WebP or PDF file (judged by its content, not its name)"
                ),
            )
        })?;
        let name: String = file_name
            .chars()
            .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
            .take(255)
            .collect();
        let name = if name.trim().is_empty() {
            "attachment".to_string()
        } else {
            name
        };
        let sha = hex::encode(Sha256::digest(bytes));
        let key = format!("sha256/{}/{}", &sha[..2], sha);
        let objects = self.objects();
        let stored = objects.exists(&key).await.map_err(|e| io_error(&key, e))?;
        if !stored {
            objects
                .put(&key, bytes)
                .await
                .map_err(|e| io_error(&key, e))?;
        }
        let meta = AttachmentMeta {
            id: uuid::Uuid::new_v4().to_string(),
            case_id: None,
            file_name: name,
            content_type: content_type.to_string(),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: sha,
            storage_key: key,
            uploaded_by: actor.context.user_id,
            created_at: self.now(),
        };
        let audit = AuditEvent::new(
            &actor.audit,
            "attachment.upload",
            "attachment",
            meta.id.clone(),
        )
        .with(serde_json::json!({ "size": meta.size, "content_type": meta.content_type }));
        self.store().create_attachment(&meta, &audit).await?;
        Ok(meta)
    }

    /// An attachment's metadata and bytes.
    pub async fn attachment_bytes(&self, id: &str) -> Result<(AttachmentMeta, Vec<u8>), CaseError> {
        let meta = self
            .store()
            .attachment(id)
            .await?
            .ok_or_else(|| CaseError::NotFound(format!("attachment {id}")))?;
        let bytes = self
            .objects()
            .get(&meta.storage_key)
            .await
            .map_err(|e| io_error(&meta.storage_key, e))?;
        Ok((meta, bytes))
    }
}

fn io_error(key: &str, e: io::Error) -> CaseError {
    CaseError::Store(chengyun_store::StoreError::Unavailable(format!(
        "attachment storage failed for {key}: {e}; check that the attachment directory is writable"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic_numbers() {
        assert_eq!(
            sniff_content_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0]),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_content_type(b"\x89PNG\r\n\x1a\n...."),
            Some("image/png")
        );
        assert_eq!(
            sniff_content_type(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(sniff_content_type(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff_content_type(b"<html>"), None);
        assert_eq!(sniff_content_type(b"RIFF\x10\0\0\0WAVE"), None);
        assert_eq!(sniff_content_type(b""), None);
    }

    #[tokio::test]
    async fn disk_store_round_trips_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskObjectStore::new(dir.path());
        s.put("sha256/ab/abcdef", b"hello").await.unwrap();
        assert!(s.exists("sha256/ab/abcdef").await.unwrap());
        assert_eq!(s.get("sha256/ab/abcdef").await.unwrap(), b"hello");
        assert!(s.put("../evil", b"x").await.is_err());
        assert!(s.put("/abs", b"x").await.is_err());
        assert!(!s.exists("sha256/ab/none").await.unwrap());
    }
}
