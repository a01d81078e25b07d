//! The desktop shell: a Tauri window over the operations facade, embedded
//! over the local store. Commands are a few lines each: take the state and
//! the arguments, call the facade, return its data or its error.
#![forbid(unsafe_code)]
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use argus_ops::api::{OrgView, Summary};
use argus_ops::{default_db_path, Ops, OpsError, SystemClock};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The store opened at start, or why it could not be.
struct AppState(Mutex<Result<Ops, OpsError>>);

#[derive(Serialize)]
struct OrgStatus {
    org: OrgView,
    month: Summary,
}

#[derive(Serialize)]
struct AppStatus {
    db: String,
    version: &'static str,
    orgs: Vec<OrgStatus>,
}

fn internal(msg: &str) -> OpsError {
    OpsError::new(argus_domain::ErrorCode::Internal, msg)
}

#[tauri::command]
fn app_status(state: tauri::State<'_, AppState>) -> Result<AppStatus, OpsError> {
    let mut guard = state.0.lock().map_err(|_| internal("the store lock is poisoned; restart the app"))?;
    let ops = guard.as_mut().map_err(|e| e.clone())?;
    let mut orgs = Vec::new();
    for org in ops.org_list()? {
        let month = ops.usage_summary(&org.slug, None, None, Some("provider"))?;
        orgs.push(OrgStatus { org, month });
    }
    Ok(AppStatus { db: ops.path().display().to_string(), version: env!("CARGO_PKG_VERSION"), orgs })
}

fn main() {
    let path = std::env::var_os("ARGUS_USAGE_DB").map(Into::into).unwrap_or_else(default_db_path);
    let ops = Ops::open(&path, Arc::new(SystemClock), "desktop");
    let context = tauri::generate_context!("../tauri.conf.json");
    let result =
        tauri::Builder::default().manage(AppState(Mutex::new(ops))).invoke_handler(tauri::generate_handler![app_status]).run(context);
    if let Err(e) = result {
        eprintln!("error: the window could not start: {e}");
        std::process::exit(1);
    }
}
