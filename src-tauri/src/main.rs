//! The desktop shell: a Tauri window over the operations facade, embedded
//! over the local store. Commands are a few lines each: take the arguments,
//! call the facade on a blocking thread, return its data or its error.
//! Long work (sync, export, import, reprice) runs as a job on its own thread
//! with its own connection, reports progress as `job` events and can be
//! cancelled.
#![forbid(unsafe_code)]
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod jobs;
mod outbox;

include!("command_table.rs");

/// The invoke handler of the commands of [`window_commands`].
macro_rules! invoke_handler {
    ($($c:ident),*) => {
        tauri::generate_handler![$($c),*]
    };
}

use argus_domain::ErrorCode;
use argus_ops::analytics::RecordQuery;
use argus_ops::api::*;
use argus_ops::channels::{ChannelBody, ChannelSpec, ChannelView};
use argus_ops::controls::{BudgetChange, ProviderChange};
use argus_ops::fx::{FxImportReport, FxRateView};
use argus_ops::gateway::{AliasView, GatewayDay, UpstreamChange, UpstreamView};
use argus_ops::prices::PriceCheck;
use argus_ops::sync::{Keep, SyncStatus};
use argus_ops::{default_db_path, Ops, OpsError, SystemClock};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tauri::{AppHandle, Manager};

/// The store opened at start (or why it could not be), and the running jobs.
pub struct AppState {
    pub path: PathBuf,
    ops: Mutex<Result<Ops, OpsError>>,
    pub jobs: jobs::Jobs,
    started: Instant,
    /// Keeps the alert delivery loop of a solo store running (see `outbox`).
    outbox: Mutex<Option<tokio::sync::watch::Sender<bool>>>,
}

pub fn internal(msg: impl Into<String>) -> OpsError {
    OpsError::new(ErrorCode::Internal, msg)
}

pub fn open_ops(path: &std::path::Path) -> Result<Ops, OpsError> {
    Ops::open(path, Arc::new(SystemClock), "desktop")
}

/// Runs `f` with the window's store on a blocking thread.
async fn run<T: Send + 'static>(app: AppHandle, f: impl FnOnce(&mut Ops) -> Result<T, OpsError> + Send + 'static) -> Result<T, OpsError> {
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<AppState>();
        let mut guard = state.ops.lock().map_err(|_| internal("the store lock is poisoned; restart the app"))?;
        let ops = guard.as_mut().map_err(|e| e.clone())?;
        f(ops)
    })
    .await
    .map_err(|e| internal(format!("the command stopped: {e}")))?
}

#[tauri::command(rename_all = "snake_case")]
async fn app_info(app: AppHandle) -> Result<AppInfo, OpsError> {
    run(app, |ops| {
        Ok(AppInfo {
            db: ops.path().display().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            orgs: ops.org_list()?,
            sync: Some(ops.sync_status()?),
            role: "admin".to_string(),
        })
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn usage_summary(app: AppHandle, org: String, query: RecordQuery, by: Option<String>) -> Result<Summary, OpsError> {
    run(app, move |ops| ops.usage_summary_of(&org, &query, by.as_deref())).await
}

#[tauri::command(rename_all = "snake_case")]
async fn usage_records(app: AppHandle, org: String, query: RecordQuery) -> Result<RecordsPage, OpsError> {
    run(app, move |ops| ops.usage_records(&org, &query)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn budget_status(app: AppHandle, org: String, month: Option<String>, scope: Option<String>) -> Result<BudgetStatus, OpsError> {
    run(app, move |ops| ops.budget_status_of(&org, scope.as_deref(), month.as_deref())).await
}

#[tauri::command(rename_all = "snake_case")]
async fn budgets(app: AppHandle, org: String) -> Result<Vec<BudgetView>, OpsError> {
    run(app, move |ops| ops.budgets(&org)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn budget_set(
    app: AppHandle,
    org: String,
    month: String,
    body: BudgetChange,
    if_version: Option<i64>,
    scope: Option<String>,
) -> Result<BudgetView, OpsError> {
    let change = BudgetChange { if_version, scope, ..body };
    let handle = app.clone();
    let set = run(app, move |ops| ops.budget_set(&org, Some(&month), &change)).await?;
    // A lowered budget fires the thresholds it crosses at once: raise them as notifications.
    jobs::notify(&handle, &set.alerts_fired);
    Ok(set.budget)
}

#[tauri::command(rename_all = "snake_case")]
async fn alerts_list(app: AppHandle, org: String) -> Result<Vec<AlertView>, OpsError> {
    run(app, move |ops| ops.alerts_list(&org)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn alerts_ack(app: AppHandle, org: String, id: i64) -> Result<AlertView, OpsError> {
    run(app, move |ops| ops.alerts_ack(&org, id)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn provider_list(app: AppHandle, org: String) -> Result<Vec<ProviderView>, OpsError> {
    run(app, move |ops| ops.provider_list(&org)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn provider_set(
    app: AppHandle,
    org: String,
    provider: String,
    body: ProviderChange,
    if_version: Option<i64>,
) -> Result<ProviderView, OpsError> {
    let change = ProviderChange { if_version, ..body };
    run(app, move |ops| ops.provider_set(&org, &provider, &change)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn gateway_today(app: AppHandle, org: String) -> Result<GatewayDay, OpsError> {
    run(app, move |ops| ops.gateway_today(&org)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn prices_check(app: AppHandle, org: String) -> Result<PriceCheck, OpsError> {
    run(app, move |ops| ops.prices_check(&org)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn fx_list(app: AppHandle, org: String) -> Result<Vec<FxRateView>, OpsError> {
    run(app, move |ops| ops.fx_list(Some(&org))).await
}

/// The organisation's own rates, as `POST /orgs/{org}/fx` adds them.
#[tauri::command(rename_all = "snake_case")]
async fn fx_import(app: AppHandle, org: String, content: String) -> Result<FxImportReport, OpsError> {
    run(app, move |ops| ops.fx_import(&content, Some(&org))).await
}

#[tauri::command(rename_all = "snake_case")]
async fn upstream_list(app: AppHandle, org: String) -> Result<Vec<UpstreamView>, OpsError> {
    run(app, move |ops| ops.upstream_list(&org)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn upstream_set(app: AppHandle, org: String, provider: String, body: UpstreamChange) -> Result<UpstreamView, OpsError> {
    run(app, move |ops| ops.upstream_set(&org, &provider, &body)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn alias_list(app: AppHandle, org: String) -> Result<Vec<AliasView>, OpsError> {
    run(app, move |ops| ops.alias_list(&org)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn alias_set(app: AppHandle, org: String, name: String, targets: Vec<String>) -> Result<AliasView, OpsError> {
    run(app, move |ops| ops.alias_set(&org, &name, &targets.join(","))).await
}

#[tauri::command(rename_all = "snake_case")]
async fn channel_list(app: AppHandle, org: String) -> Result<Vec<ChannelView>, OpsError> {
    run(app, move |ops| ops.channels_list(&org)).await
}

/// A channel of this store, sent by the window's outbox while it runs
/// (targets on this machine or a private network allowed: see `outbox`).
/// A signed webhook's secret comes with it when `ARGUS_USAGE_SERVER_KEY` is set,
/// the key the window's outbox signs with.
#[tauri::command(rename_all = "snake_case")]
async fn channel_add(app: AppHandle, org: String, body: ChannelBody) -> Result<serde_json::Value, OpsError> {
    let spec = ChannelSpec::from(body);
    let v = run(app, move |ops| ops.channel_add(&org, &spec, true)).await?;
    let mut out = serde_json::to_value(&v).unwrap_or_default();
    if let Some(s) = argus_client::outbox::server_key_from_env().and_then(|k| argus_client::outbox::channel_secret(&k, &v)) {
        out["secret"] = serde_json::Value::String(s);
    }
    Ok(out)
}

#[tauri::command(rename_all = "snake_case")]
async fn channel_remove(app: AppHandle, org: String, id: i64) -> Result<ChannelView, OpsError> {
    run(app, move |ops| ops.channel_remove(&org, id)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn alias_remove(app: AppHandle, org: String, name: String) -> Result<(), OpsError> {
    run(app, move |ops| ops.alias_remove(&org, &name)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn route_preview(app: AppHandle, org: String, operation: Option<String>) -> Result<Route, OpsError> {
    run(app, move |ops| ops.route(&org, operation.as_deref(), true, None)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn forecast(app: AppHandle, org: String, month: Option<String>, scope: Option<String>) -> Result<Forecast, OpsError> {
    run(app, move |ops| ops.forecast_of(&org, scope.as_deref(), month.as_deref())).await
}

#[tauri::command(rename_all = "snake_case")]
async fn prices_list(app: AppHandle, org: String) -> Result<Vec<PriceView>, OpsError> {
    run(app, move |ops| ops.prices_list(Some(&org), None)).await
}

/// New price versions for the organisation: a JSON array or CSV, as `prices import`;
/// with `if_version`, only when the prices are still at that version.
#[tauri::command(rename_all = "snake_case")]
async fn prices_add(app: AppHandle, org: String, content: String, if_version: Option<i64>) -> Result<PriceImportReport, OpsError> {
    run(app, move |ops| ops.prices_add(&org, &content, if_version)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn reprice_preview(app: AppHandle, org: String, from: Option<String>, to: Option<String>) -> Result<RepriceReport, OpsError> {
    run(app, move |ops| ops.reprice(&org, from.as_deref(), to.as_deref(), false)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn audit_list(app: AppHandle, org: String, query: argus_ops::api::AuditQuery) -> Result<AuditPage, OpsError> {
    run(app, move |ops| ops.audit_query(&org, &query)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn org_create(app: AppHandle, slug: String, name: Option<String>, currency: String, timezone: String) -> Result<OrgView, OpsError> {
    run(app, move |ops| ops.org_create(&slug, name.as_deref(), &currency, &timezone)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn demo_load(app: AppHandle) -> Result<DemoReport, OpsError> {
    run(app, |ops| ops.demo("demo")).await
}

#[tauri::command(rename_all = "snake_case")]
async fn sync_status(app: AppHandle) -> Result<SyncStatus, OpsError> {
    run(app, |ops| ops.sync_status()).await
}

/// Links the store and puts the token into the OS keyring (never the store);
/// `ARGUS_USAGE_TOKEN` takes precedence over the typed token and is not stored.
#[tauri::command(rename_all = "snake_case")]
async fn sync_link(app: AppHandle, server: String, org: String, token: String) -> Result<SyncStatus, OpsError> {
    run(app, move |ops| {
        argus_client::link::link(ops, &argus_client::credentials::KeyringVault, &server, &org, || Ok(token))?;
        ops.sync_status()
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
async fn sync_resolve(app: AppHandle, id: i64, keep: String) -> Result<SyncStatus, OpsError> {
    run(app, move |ops| ops.sync_resolve(id, Keep::parse(&keep)?)).await
}

#[tauri::command(rename_all = "snake_case")]
async fn sync_unlink(app: AppHandle) -> Result<SyncStatus, OpsError> {
    run(app, |ops| {
        // A token that cannot be removed from the keyring does not undo the unlink.
        argus_client::link::unlink(ops, &argus_client::credentials::KeyringVault)?;
        ops.sync_status()
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
fn start_job(app: AppHandle, kind: String, params: serde_json::Value) -> Result<u64, OpsError> {
    jobs::start(app, &kind, params)
}

#[tauri::command(rename_all = "snake_case")]
fn cancel_job(app: AppHandle, id: u64) -> bool {
    app.state::<AppState>().jobs.cancel(id)
}

/// Opens a file this app wrote (an export) with the system's default application.
#[tauri::command(rename_all = "snake_case")]
fn open_path(app: AppHandle, path: String) -> Result<(), OpsError> {
    if !app.state::<AppState>().jobs.is_written(&path) {
        return Err(OpsError::new(ErrorCode::Forbidden, "only files this app exported can be opened from here"));
    }
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    std::process::Command::new(opener)
        .arg(&path)
        .spawn()
        .map(|_| ())
        .map_err(|e| OpsError::new(ErrorCode::Io, format!("cannot open {path}: {e}; open it from your file manager")))
}

/// The UI says when the overview is painted: logged with the time since
/// launch (the startup benchmark reads it).
#[tauri::command(rename_all = "snake_case")]
fn ui_painted(app: AppHandle) {
    let ms = app.state::<AppState>().started.elapsed().as_millis();
    eprintln!("argus-usage-desktop: overview painted {ms} ms after launch");
}

fn main() {
    let started = Instant::now();
    // WebKitGTK's DMA-BUF renderer costs about 90 MB more per window here and
    // misbehaves on some drivers; this plain console does not need it. A
    // value the user set wins. (Set before any thread starts.)
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    let path: PathBuf = std::env::var_os("ARGUS_USAGE_DB").map(Into::into).unwrap_or_else(default_db_path);
    let ops = open_ops(&path);
    let state = AppState { path, ops: Mutex::new(ops), jobs: jobs::Jobs::default(), started, outbox: Mutex::new(None) };
    let context = tauri::generate_context!("../tauri.conf.json");
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .setup(|app| {
            // Alerts go out from the window while it runs (a solo store has no server to send them).
            let state = app.state::<AppState>();
            let stop = outbox::start(&state.path);
            if let Ok(mut o) = state.outbox.lock() {
                *o = stop;
            }
            Ok(())
        })
        .invoke_handler(window_commands!(invoke_handler))
        .run(context);
    if let Err(e) = result {
        eprintln!("error: the window could not start: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    macro_rules! names {
        ($($c:ident),*) => {
            vec![$(stringify!($c)),*]
        };
    }

    /// The capability file grants exactly the commands of the table (plus
    /// events and notifications), and the UI calls no other command.
    #[test]
    fn the_capability_file_and_the_ui_match_the_command_table() {
        let commands: Vec<&str> = window_commands!(names);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let caps: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("capabilities/default.json")).unwrap()).unwrap();
        let mut granted: Vec<String> = caps["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(|c| c.replace('-', "_")))
            .collect();
        granted.sort();
        let mut listed: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
        listed.sort();
        assert_eq!(granted, listed, "capabilities/default.json must grant exactly the commands of src/command_table.rs");

        let ui = std::fs::read_to_string(root.join("../ui/src/backend.ts")).unwrap();
        let mut called = Vec::new();
        // `call("name"` and `call<Type>("name"`.
        for part in ui.split("call").skip(1) {
            let rest = if part.starts_with('<') { part.split_once('>').map_or("", |(_, r)| r) } else { part };
            if let Some(name) = rest.strip_prefix("(\"").and_then(|r| r.split('"').next()) {
                called.push(name.to_string());
            }
        }
        assert!(called.len() >= 20, "found the UI's command calls: {called:?}");
        for c in &called {
            assert!(listed.contains(c), "the UI calls {c:?}, which is not in src/command_table.rs");
        }
    }
}
