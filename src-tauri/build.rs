include!("src/command_table.rs");

/// The names of the commands, as strings.
macro_rules! names {
    ($($c:ident),*) => {
        &[$(stringify!($c)),*]
    };
}

fn main() {
    println!("cargo:rerun-if-changed=src/command_table.rs");
    let commands: &[&str] = window_commands!(names);
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        // Only these commands exist for the window; capabilities grant them one by one.
        .app_manifest(tauri_build::AppManifest::new().commands(commands));
    if let Err(e) = tauri_build::try_build(attrs) {
        eprintln!("tauri build failed: {e:#}");
        std::process::exit(1);
    }
}
