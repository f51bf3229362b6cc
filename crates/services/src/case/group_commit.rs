//! Group commit for single intakes: concurrent [`CaseService::intake`] calls
//! hand their prepared writes to one writer task, which stores whatever has
//! queued up (up to [`MAX_BATCH`]) in one transaction through
//! [`CaseStore::create_cases`](chengyun_store::CaseStore::create_cases) —
//! multi-row statements, a savepoint per case only if the batch fails — and
//! answers each caller with its own case or error. A lone caller is written
//! at once (a batch of one, no savepoint), so nobody waits for company.
//!
//! Every guarantee of a single write holds: each case with its audit row
//! and idempotency key is stored whole or not at all, and one failing case
//! fails only its own caller.

use chengyun_domain::audit::AuditEvent;
use chengyun_store::case::CaseWritten;
use chengyun_store::{DynStore, NewCaseWrite, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Cases per group commit at most.
pub(crate) const MAX_BATCH: usize = 200;

type Reply = oneshot::Sender<Result<CaseWritten, StoreError>>;

/// The writer's queue. Cheap to clone.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<(NewCaseWrite, AuditEvent, Reply)>,
}

impl GroupCommit {
    /// Starts the writer on the current tokio runtime, or answers `None`
    /// outside one (writes then go straight to the store).
    pub(crate) fn start(store: DynStore) -> Option<Self> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (tx, mut rx) = mpsc::channel::<(NewCaseWrite, AuditEvent, Reply)>(MAX_BATCH * 4);
        handle.spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let jobs = std::mem::take(&mut batch);
                let (writes, replies): (Vec<(NewCaseWrite, AuditEvent)>, Vec<Reply>) =
                    jobs.into_iter().map(|(w, a, r)| ((w, a), r)).unzip();
                match store.create_cases(&writes).await {
                    Ok(results) => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            let _ = reply.send(result);
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                        }
                    }
                }
            }
        });
        Some(Self { tx })
    }

    /// Queues one write and waits for its result; `None` when the writer is
    /// gone (its runtime shut down), so the caller writes directly.
    pub(crate) async fn write(
        &self,
        write: NewCaseWrite,
        audit: AuditEvent,
    ) -> Result<Result<CaseWritten, StoreError>, (NewCaseWrite, AuditEvent)> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((w, a, _))) = self.tx.send((write, audit, reply)).await {
            return Err((w, a));
        }
        match answer.await {
            Ok(result) => Ok(result),
            // the writer died with the job: the transaction never committed
            Err(_) => Ok(Err(StoreError::Unavailable(
                "the case writer stopped before answering; nothing was stored".into(),
            ))),
        }
    }
}
