// The window's commands, declared once. `window_commands!(m)` calls the
// macro `m` with the list; `build.rs` makes the app manifest of it (one
// `allow-*` permission a command), `main.rs` the invoke handler, and a test
// of `main.rs` checks that capabilities/default.json grants exactly these
// and that the UI's backend.ts calls only these. Included (`include!`) by
// both build.rs and main.rs, so it holds only this macro.
macro_rules! window_commands {
    ($m:ident) => {
        $m!(
            app_info,
            usage_summary,
            usage_records,
            budget_status,
            budgets,
            budget_set,
            alerts_list,
            alerts_ack,
            provider_list,
            provider_set,
            route_preview,
            upstream_list,
            gateway_today,
            upstream_set,
            alias_list,
            alias_set,
            alias_remove,
            channel_list,
            channel_add,
            channel_remove,
            forecast,
            prices_list,
            prices_check,
            fx_list,
            fx_import,
            prices_add,
            reprice_preview,
            audit_list,
            org_create,
            demo_load,
            sync_status,
            sync_link,
            sync_resolve,
            sync_unlink,
            start_job,
            cancel_job,
            open_path,
            ui_painted
        )
    };
}
