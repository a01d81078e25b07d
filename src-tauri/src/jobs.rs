//! Long work off the UI thread: each job runs on its own thread with its
//! own connection to the store (so the window keeps answering), reports
//! progress as `job` events, and stops when cancelled. What a job stored
//! before a cancel stays stored and consistent: a sync stops at a page
//! boundary, an import after a whole batch, an export leaves no file.
use crate::{internal, open_ops, AppState};
use argus_domain::ErrorCode;
use argus_ops::OpsError;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;

#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    cancels: Mutex<HashMap<u64, Arc<AtomicBool>>>,
    written: Mutex<HashSet<String>>,
}

impl Jobs {
    pub fn cancel(&self, id: u64) -> bool {
        match self.cancels.lock().ok().and_then(|m| m.get(&id).cloned()) {
            Some(c) => {
                c.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    pub fn is_written(&self, path: &str) -> bool {
        self.written.lock().map(|w| w.contains(path)).unwrap_or(false)
    }
}

#[derive(Clone)]
struct Reporter {
    app: AppHandle,
    id: u64,
    kind: String,
}

impl Reporter {
    fn send(
        &self,
        state: &'static str,
        done: u64,
        total: u64,
        message: String,
        result: Option<serde_json::Value>,
        error: Option<OpsError>,
    ) {
        let e = argus_ops::api::JobEvent {
            id: self.id,
            kind: self.kind.clone(),
            state: state.to_string(),
            done,
            total,
            message,
            result,
            error,
        };
        let _ = self.app.emit("job", e);
    }

    fn progress(&self, done: u64, total: u64, message: String) {
        self.send("running", done, total, message, None, None);
    }
}

pub fn notify(app: &AppHandle, alerts: &[argus_ops::api::AlertView]) {
    for a in alerts {
        let (title, body) = a.words();
        let _ = app.notification().builder().title(title).body(body).show();
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    /// The JSON Lines text (a file the user picked).
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepriceParams {
    org: String,
    from: Option<String>,
    to: Option<String>,
}

fn bad(e: serde_json::Error) -> OpsError {
    OpsError::new(ErrorCode::BadInput, format!("bad job parameters: {e}"))
}

/// A reader that ends with an error once cancelled, so an ingest stops after its current batch.
struct CancelRead<R> {
    inner: R,
    cancel: Arc<AtomicBool>,
}

impl<R: Read> Read for CancelRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"));
        }
        self.inner.read(buf)
    }
}

pub fn start(app: AppHandle, kind: &str, params: serde_json::Value) -> Result<u64, OpsError> {
    let state = app.state::<AppState>();
    let id = state.jobs.next.fetch_add(1, Ordering::Relaxed) + 1;
    let cancel = Arc::new(AtomicBool::new(false));
    state.jobs.cancels.lock().map_err(|_| internal("jobs lock"))?.insert(id, cancel.clone());
    let r = Reporter { app: app.clone(), id, kind: kind.to_string() };
    let ctx = Ctx { path: state.path.clone(), rw: r.clone(), cancel };
    let work = match kind {
        "sync" => sync_job(ctx),
        "export" => export_job(ctx, params)?,
        "import" => import_job(ctx, params)?,
        "reprice" => reprice_job(ctx, params)?,
        other => {
            return Err(OpsError::new(ErrorCode::BadInput, format!("{other:?} is not a job; the jobs are sync, export, import, reprice")))
        }
    };
    std::thread::spawn(move || {
        r.progress(0, 0, "starting".into());
        let result = work();
        let cancelled =
            r.app.state::<AppState>().jobs.cancels.lock().ok().and_then(|mut m| m.remove(&r.id)).is_some_and(|c| c.load(Ordering::Relaxed));
        match result {
            Ok(v) if cancelled => r.send("cancelled", 0, 0, "cancelled; what was stored before stays".into(), Some(v), None),
            Ok(v) => r.send("done", 0, 0, "done".into(), Some(v), None),
            Err(e) if cancelled => r.send("cancelled", 0, 0, e.message.clone(), None, Some(e)),
            Err(e) => r.send("failed", 0, 0, e.message.clone(), None, Some(e)),
        }
    });
    Ok(id)
}

/// What a job's work needs: the store, the progress reporter, the cancel flag.
struct Ctx {
    path: std::path::PathBuf,
    rw: Reporter,
    cancel: Arc<AtomicBool>,
}

/// The work of a job, run on its own thread; its value is the job's result.
type Work = Box<dyn FnOnce() -> Result<serde_json::Value, OpsError> + Send>;

fn sync_job(Ctx { path, rw, cancel }: Ctx) -> Work {
    Box::new(move || {
        let mut ops = open_ops(&path)?;
        let remote = argus_client::link::remote(&ops.sync_status()?)?;
        let opts = argus_ops::sync::SyncOptions { cancel: cancel.clone(), ..Default::default() };
        let report = ops.sync(&remote, &opts, &mut |p| rw.progress(p.records, 0, format!("{}: {} records", p.phase, p.records)))?;
        notify(&rw.app, &report.new_alerts);
        serde_json::to_value(report).map_err(|e| internal(e.to_string()))
    })
}

/// `{org, out?, meta?, ...the report parameters of the HTTP API}`: checked before the job starts.
fn export_job(Ctx { path, rw, cancel }: Ctx, params: serde_json::Value) -> Result<Work, OpsError> {
    let mut params = params;
    let map = params.as_object_mut().ok_or_else(|| OpsError::new(ErrorCode::BadInput, "the export parameters are not an object"))?;
    let take = |m: &mut serde_json::Map<String, serde_json::Value>, k: &str| m.remove(k).and_then(|v| v.as_str().map(str::to_string));
    let org = take(map, "org").ok_or_else(|| OpsError::new(ErrorCode::BadInput, "the export names no org"))?;
    let out = take(map, "out");
    // `meta: "lines"`: a CSV with its metadata as leading # lines (one file).
    let meta_lines = take(map, "meta").as_deref() == Some("lines");
    let p: argus_reports::ReportParams = serde_json::from_value(params).map_err(bad)?;
    let req = p.request(&org, meta_lines).map_err(|e| OpsError::new(ErrorCode::BadInput, e.to_string()))?;
    Ok(Box::new(move || {
        let out = match &out {
            Some(o) => std::path::PathBuf::from(o),
            None => dirs::download_dir().or_else(dirs::home_dir).unwrap_or_else(std::env::temp_dir).join(req.default_file_name()),
        };
        let mut ops = open_ops(&path)?;
        let w = argus_reports::export_file(
            &mut ops,
            &req,
            &out,
            &mut |done, total| {
                let message = if total == 0 { format!("{done} rows read") } else { format!("{done} of {total} rows") };
                rw.progress(done, total, message)
            },
            &cancel,
        )
        .map_err(|e| match e {
            argus_reports::ReportError::Ops(o) => o,
            argus_reports::ReportError::TooLong(m) => OpsError::new(ErrorCode::BadInput, m),
            other => OpsError::new(ErrorCode::Io, other.to_string()),
        })?;
        if let Ok(mut set) = rw.app.state::<AppState>().jobs.written.lock() {
            set.insert(w.file.display().to_string());
        }
        serde_json::to_value(w).map_err(|e| internal(e.to_string()))
    }))
}

fn import_job(Ctx { path, rw, cancel }: Ctx, params: serde_json::Value) -> Result<Work, OpsError> {
    let p: ImportParams = serde_json::from_value(params).map_err(bad)?;
    Ok(Box::new(move || {
        let mut ops = open_ops(&path)?;
        let total = p.content.len() as u64;
        let reader = std::io::BufReader::new(CancelRead { inner: std::io::Cursor::new(p.content.into_bytes()), cancel: cancel.clone() });
        let report = ops.ingest(reader, |x| rw.progress(x.bytes, total, format!("{} lines, {} accepted", x.lines, x.accepted)));
        let report = match report {
            Err(e) if cancel.load(Ordering::Relaxed) => {
                return Err(OpsError::new(
                    ErrorCode::Io,
                    format!(
                        "import cancelled; the batches before stayed stored ({}), importing the file again skips them as duplicates",
                        e.message
                    ),
                ))
            }
            other => other?,
        };
        notify(&rw.app, &report.alerts_fired);
        serde_json::to_value(report).map_err(|e| internal(e.to_string()))
    }))
}

fn reprice_job(Ctx { path, cancel, .. }: Ctx, params: serde_json::Value) -> Result<Work, OpsError> {
    let p: RepriceParams = serde_json::from_value(params).map_err(bad)?;
    Ok(Box::new(move || {
        let mut ops = open_ops(&path)?;
        if cancel.load(Ordering::Relaxed) {
            return Err(OpsError::new(ErrorCode::Io, "cancelled; nothing changed"));
        }
        // One transaction: it applies whole or not at all.
        let report = ops.reprice(&p.org, p.from.as_deref(), p.to.as_deref(), true)?;
        serde_json::to_value(report).map_err(|e| internal(e.to_string()))
    }))
}
