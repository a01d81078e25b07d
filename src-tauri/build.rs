fn main() {
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        // Only these commands exist for the window; capabilities grant them one by one.
        .app_manifest(tauri_build::AppManifest::new().commands(&[
            "app_info",
            "usage_summary",
            "usage_records",
            "budget_status",
            "budgets",
            "budget_set",
            "alerts_list",
            "alerts_ack",
            "provider_list",
            "provider_set",
            "route_preview",
            "forecast",
            "prices_list",
            "prices_add",
            "reprice_preview",
            "audit_list",
            "org_create",
            "demo_load",
            "sync_status",
            "sync_link",
            "sync_resolve",
            "sync_unlink",
            "start_job",
            "cancel_job",
            "open_path",
            "ui_painted",
        ]));
    if let Err(e) = tauri_build::try_build(attrs) {
        eprintln!("tauri build failed: {e:#}");
        std::process::exit(1);
    }
}
