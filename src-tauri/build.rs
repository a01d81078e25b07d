fn main() {
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        // Only these commands exist for the window; capabilities grant them one by one.
        .app_manifest(tauri_build::AppManifest::new().commands(&["app_status"]));
    if let Err(e) = tauri_build::try_build(attrs) {
        eprintln!("tauri build failed: {e:#}");
        std::process::exit(1);
    }
}
