//! Group commit of the gateway's writes: admissions and records. Each call
//! waits for its admission before it is sent upstream, and for its record to
//! be committed before its answer is sent (nothing is lost by a crash after
//! the answer), but the calls in flight share transactions: the recorder
//! writes everything queued while the previous transaction ran in one
//! `record_calls` an organisation and token, so the store's single writer is not the
//! bound on calls a second.
use crate::error::ApiError;
use crate::pool::Pool;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Records in one transaction at most.
const BATCH: usize = 2000;

struct Pending {
    org: String,
    /// The name of the token that sent the call.
    token: String,
    record: Value,
    done: oneshot::Sender<Result<(), ApiError>>,
}

#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Pending>,
}

impl Recorder {
    pub fn start(pool: Arc<Pool>) -> Recorder {
        let (tx, rx) = mpsc::channel(BATCH * 4);
        tokio::spawn(worker(pool, rx));
        Recorder { tx }
    }

    /// Records one call (an ingest line) sent with the token named `token`
    /// and returns once it is committed.
    pub async fn record(&self, org: &str, token: &str, record: Value) -> Result<(), ApiError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { org: org.to_string(), token: token.to_string(), record, done })
            .await
            .map_err(|_| ApiError::internal("the server is shutting down".into()))?;
        wait.await.map_err(|_| ApiError::internal("the record could not be written".into()))?
    }
}

/// What was queued while the last group was written: the next one waiting
/// and all behind it (at most `BATCH`); `None` once the queue is closed.
async fn next_batch<T>(rx: &mut mpsc::Receiver<T>) -> Option<Vec<T>> {
    let mut batch = vec![rx.recv().await?];
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn worker(pool: Arc<Pool>, mut rx: mpsc::Receiver<Pending>) {
    while let Some(batch) = next_batch(&mut rx).await {
        let mut by_caller: HashMap<(String, String), Vec<Pending>> = HashMap::new();
        for p in batch {
            by_caller.entry((p.org.clone(), p.token.clone())).or_default().push(p);
        }
        for ((org, token), items) in by_caller {
            let values: Vec<Value> = items.iter().map(|p| p.record.clone()).collect();
            let res = pool.run("gateway", move |ops| ops.record_calls(&org, &token, values)).await;
            match res {
                Ok(report) => {
                    for (i, p) in items.into_iter().enumerate() {
                        let out = match report.rejected.iter().find(|r| r.index == i) {
                            None => Ok(()),
                            Some(r) => {
                                tracing::error!(error = %r.error, "gateway: a call's record was refused");
                                Err(ApiError::bad_input(r.error.clone(), r.field.clone()))
                            }
                        };
                        let _ = p.done.send(out);
                    }
                }
                Err(e) => {
                    for p in items {
                        let _ = p.done.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// Admissions asked while the previous group's transaction ran, decided in
/// one transaction, in order (`Ops::gateway_admit_many`).
#[derive(Clone)]
pub struct Admitter {
    tx: mpsc::Sender<(argus_ops::gateway::Admit, oneshot::Sender<Result<argus_ops::gateway::Choice, ApiError>>)>,
}

impl Admitter {
    pub fn start(pool: Arc<Pool>) -> Admitter {
        let (tx, mut rx) =
            mpsc::channel::<(argus_ops::gateway::Admit, oneshot::Sender<Result<argus_ops::gateway::Choice, ApiError>>)>(BATCH * 4);
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&mut rx).await {
                let (items, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match pool.run("gateway", move |ops| ops.gateway_admit_many(&items)).await {
                    Ok(results) => {
                        for (r, w) in results.into_iter().zip(waiters) {
                            let _ = w.send(r.map_err(ApiError::from));
                        }
                    }
                    Err(e) => {
                        for w in waiters {
                            let _ = w.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Admitter { tx }
    }

    pub async fn admit(&self, a: argus_ops::gateway::Admit) -> Result<argus_ops::gateway::Choice, ApiError> {
        let (done, wait) = oneshot::channel();
        self.tx.send((a, done)).await.map_err(|_| ApiError::internal("the server is shutting down".into()))?;
        wait.await.map_err(|_| ApiError::internal("the admission could not be decided".into()))?
    }
}
