//! `argus-usage sync`: link this store to a server, sync, show and resolve.
use crate::{print_json, Outcome};
use argus_client::credentials::{KeyringVault, Source};
use argus_client::link;
use argus_client::remote::normalize_server;
use argus_domain::ErrorCode;
use argus_ops::sync::{Keep, SyncOptions, SyncReport, SyncStatus};
use argus_ops::{Ops, OpsError};
use clap::{Args, Subcommand};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SyncArgs {
    #[command(subcommand)]
    pub sub: Option<SyncSub>,
    /// Keep syncing every --interval seconds until stopped (Ctrl-C).
    #[arg(long)]
    pub watch: bool,
    #[arg(long, default_value_t = 30)]
    pub interval: u64,
    /// Records per page pulled (each page is stored in one transaction).
    #[arg(long, default_value_t = argus_ops::sync::PAGE)]
    pub page: i64,
    /// Retries after a network error or a 5xx answer, waiting 0.5 s, 1 s, 2 s...
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub(crate) enum SyncSub {
    /// Link this store to an organisation on a server. The token is read
    /// from stdin (or asked for) and kept in the OS keyring;
    /// ARGUS_USAGE_TOKEN, when set, is used instead and not stored.
    Link {
        #[arg(long)]
        server: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// The link, the cursor, the last sync, pending pushes and conflicts.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Resolve a conflict: keep the local edit (pushed on the next sync) or the server's value.
    Resolve {
        id: i64,
        #[arg(long)]
        keep: String,
        #[arg(long)]
        json: bool,
    },
    /// Forget the link (and its token); the data stays, the store becomes standalone.
    Unlink,
}

impl SyncArgs {
    pub fn json(&self) -> bool {
        match &self.sub {
            None => self.json,
            Some(SyncSub::Link { json, .. } | SyncSub::Status { json } | SyncSub::Resolve { json, .. }) => *json,
            Some(SyncSub::Unlink) => false,
        }
    }
}

/// Reads the token: the first line of stdin, or asked for on a terminal.
fn read_token(server: &str, org: &str) -> Result<String, OpsError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("token for {org} at {server} (it goes into the OS keyring): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| OpsError::new(ErrorCode::Io, format!("cannot read the token from stdin: {e}")))?;
    let t = line.trim().to_string();
    if t.is_empty() {
        return Err(OpsError {
            field: Some("token".into()),
            ..OpsError::new(
                ErrorCode::BadInput,
                "no token given; pipe it in (`echo TOKEN | argus-usage sync link ...`), type it when asked, or set ARGUS_USAGE_TOKEN. Make one on the server with `argus-usage token create --org SLUG --role admin`",
            )
        });
    }
    Ok(t)
}

pub(crate) fn run(ops: &mut Ops, a: SyncArgs) -> Outcome {
    let json = a.json();
    let e = |err: OpsError| (err, json);
    match a.sub {
        Some(SyncSub::Link { server, org, json }) => {
            let server = normalize_server(&server);
            let linked = link::link(ops, &KeyringVault, &server, &org, || read_token(&server, &org)).map_err(e)?;
            let (server, view) = (linked.server, linked.org);
            let stored = match linked.token {
                Source::Env => {
                    eprintln!("note: the token comes from ARGUS_USAGE_TOKEN and was not stored; set it for each sync, or unset it and link again to keep the token in the OS keyring");
                    "env"
                }
                Source::Keyring => "keyring",
            };
            if json {
                print_json(&serde_json::json!({"server": server, "org": view, "token": stored}));
            } else {
                outln!(
                    "linked this store to {} at {server} ({}, {}); the token is in the {}. Pull the data with `argus-usage sync`",
                    view.slug,
                    view.currency,
                    view.timezone,
                    if stored == "env" { "environment" } else { "OS keyring" }
                );
            }
        }
        Some(SyncSub::Status { json }) => {
            let s = ops.sync_status().map_err(e)?;
            if json {
                print_json(&s);
            } else {
                print_status(&s);
            }
        }
        Some(SyncSub::Resolve { id, keep, json }) => {
            let keep = Keep::parse(&keep).map_err(e)?;
            let s = ops.sync_resolve(id, keep).map_err(e)?;
            if json {
                print_json(&s);
            } else if keep == Keep::Local {
                outln!("kept the local edit; it is pushed with the next `argus-usage sync`");
            } else {
                outln!("kept the server's value; the local edit is dropped");
            }
        }
        Some(SyncSub::Unlink) => match link::unlink(ops, &KeyringVault).map_err(e)? {
            Some((server, org, removed)) => {
                if let Some(err) = removed {
                    eprintln!("note: the token could not be removed from the OS keyring: {err}");
                }
                outln!("unlinked from {org} at {server}; the data stays here and the store is standalone");
            }
            None => outln!("this store was not linked"),
        },
        None => {
            let opts = SyncOptions { page: a.page, retries: a.retries, ..SyncOptions::default() };
            loop {
                let result = sync_once(ops, &opts, a.json);
                match (&result, a.watch) {
                    (Ok(r), _) => {
                        if a.json {
                            print_json(r);
                        } else {
                            print_report(r);
                        }
                    }
                    (Err(err), true) => eprintln!("error: {}", err.message),
                    (Err(_), false) => {}
                }
                if !a.watch {
                    result.map_err(e)?;
                    break;
                }
                std::thread::sleep(Duration::from_secs(a.interval.max(1)));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn sync_once(ops: &mut Ops, opts: &SyncOptions, json: bool) -> Result<SyncReport, OpsError> {
    let status = ops.sync_status()?;
    let remote = link::remote(&status)?;
    let bar = if std::io::stderr().is_terminal() && !json {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let result = ops.sync(&remote, opts, &mut |p| {
        if let Some(b) = &bar {
            b.set_message(match p.phase.as_str() {
                "push" => "pushing local edits".to_string(),
                "config" => "pulling budgets, providers, prices, alerts".to_string(),
                "audit" => "pulling the audit log".to_string(),
                _ => format!("pulling records: {} stored, cursor {}", p.records, p.cursor),
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result
}

fn print_report(r: &SyncReport) {
    outln!(
        "synced {} from {}: {} new records in {} pages (cursor {}), {} edits pushed, {} conflicts, {} refused, {} audit entries, in {} ms",
        r.org,
        r.server,
        r.records,
        r.pages,
        r.cursor,
        r.pushed,
        r.conflicts,
        r.refused,
        r.audit_entries,
        r.took_ms
    );
    for a in &r.new_alerts {
        outln!("alert: {} reached {}% of the budget of {} ({} of {})", a.org, a.threshold, a.month, a.spent, a.amount);
    }
    if r.conflicts > 0 {
        outln!("conflicts wait for you: see `argus-usage sync status` and `argus-usage sync resolve ID --keep local|server`");
    }
}

fn print_status(s: &SyncStatus) {
    let (Some(server), Some(org)) = (&s.server, &s.org) else {
        outln!("this store is standalone; link it to a server with `argus-usage sync link --server URL --org SLUG`");
        return;
    };
    outln!("server:          {server} (version {})", s.server_version.as_deref().unwrap_or("?"));
    outln!("organisation:    {org}");
    outln!("cursor:          {}", s.cursor.unwrap_or(0));
    outln!("last synced at:  {}", s.last_synced_at.as_deref().unwrap_or("never: run `argus-usage sync`"));
    if let Some(err) = &s.last_error {
        outln!("last error:      {err}");
    }
    outln!("pending pushes:  {}", s.pending_pushes);
    for p in &s.pending {
        let why = p.last_error.as_deref().map(|x| format!(" ({x})")).unwrap_or_default();
        outln!("  {} {} {}{why}", p.id, p.object, p.state);
    }
    outln!("conflicts:       {}", s.conflicts.len());
    for c in &s.conflicts {
        outln!("  {} {}\n    local:  {}\n    server: {}", c.id, c.object, c.local, c.server);
    }
    if !s.conflicts.is_empty() {
        outln!("resolve each with `argus-usage sync resolve ID --keep local|server`");
    }
}
