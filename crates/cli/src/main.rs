//! `argus-usage`: the command line over the operations facade.
//!
//! Read commands take `--json` and then print one JSON document on stdout.
//! Errors go to stderr as `error: ...` (with `--json`, also as
//! `{"error": {"code", "message", "field"}}` on stdout) and exit with 1.
#![forbid(unsafe_code)]

/// `println!` for the command's output: when the reader has gone
/// (`argus-usage usage records ... | head`), the process ends quietly with
/// 141, as a writer killed by SIGPIPE does, instead of panicking.
macro_rules! outln {
    () => {
        $crate::out_line(format_args!(""))
    };
    ($($t:tt)*) => {
        $crate::out_line(format_args!($($t)*))
    };
}

mod access;
mod controls;
mod export;
mod ledger;
mod sync;
mod table;

use argus_domain::budget::CallKeys;
use argus_domain::time::Clock;
use argus_ops::analytics::RecordQuery;
use argus_ops::{default_db_path, Ops, OpsError, SystemClock};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::io::{BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use table::Table;

#[derive(Parser)]
#[command(name = "argus-usage", version, about = "Exact, auditable accounting of AI usage and cost")]
struct Cli {
    /// The store to use (default: the platform data directory, shared with the desktop app).
    #[arg(long, global = true, env = "ARGUS_USAGE_DB")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Exchange rates, which price an organisation in another currency than its prices'.
    #[command(subcommand)]
    Fx(FxCmd),
    /// Price versions.
    #[command(subcommand)]
    Prices(PricesCmd),
    /// Record one AI call.
    Record(RecordArgs),
    /// Ingest JSON Lines records from a file, or from stdin with `-`.
    Ingest {
        /// The file, or `-` for stdin.
        file: String,
        #[arg(long)]
        json: bool,
    },
    /// Analytics.
    #[command(subcommand)]
    Usage(UsageCmd),
    /// Re-cost records with the prices now known: a preview, or `--apply`.
    Reprice {
        #[arg(long)]
        org: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        apply: bool,
        #[arg(long)]
        json: bool,
    },
    /// Create a demo organisation with three months of realistic usage.
    Demo {
        #[arg(long, default_value = "demo")]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Monthly budgets.
    #[command(subcommand)]
    Budget(BudgetCmd),
    /// Budget alerts.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Provider settings: enabled, priority, quotas, and where the gateway sends its calls.
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// Model aliases of the gateway: a name standing for provider/model candidates.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Ask whether a call to a provider may go ahead (exit 0 allowed, 2 refused).
    Admit {
        #[arg(long)]
        org: String,
        #[arg(long)]
        provider: String,
        /// Estimated cost of the call, held against the budget until its record arrives.
        #[arg(long)]
        estimated_cost: Option<String>,
        /// The call's investigation, user and operation: the budgets scoped to them apply too.
        #[arg(long)]
        investigation: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        operation: Option<String>,
        /// The name of the token the call is made for (its `token:NAME` budget applies too).
        #[arg(long)]
        token: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Choose a provider by priority, with fallback (exit 0 chosen, 2 none).
    Route {
        #[arg(long)]
        org: String,
        #[arg(long)]
        operation: Option<String>,
        /// The call's investigation and user: the budgets scoped to them apply too.
        #[arg(long)]
        investigation: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// The name of the token the call is made for (its `token:NAME` budget applies too).
        #[arg(long)]
        token: Option<String>,
        /// Show the choice without admitting it.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        estimated_cost: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Month-end projection of spend.
    Forecast {
        #[arg(long)]
        org: String,
        /// KIND:VALUE: the projection of a scope's spend against its budget.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Serve the HTTP API (stops cleanly on SIGINT or SIGTERM).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8680")]
        listen: String,
        /// Also serve the console's built UI (`ui/dist`) at `/`, for browsers.
        #[arg(long)]
        ui: Option<PathBuf>,
        /// Let webhooks target this machine and private networks (an
        /// on-premises relay), and the gateway's upstreams too (a local
        /// model server); refused by default.
        #[arg(long)]
        allow_private_targets: bool,
        /// The console's address, for the links in Slack and e-mail alerts
        /// (default: this server's, when it serves the UI with --ui).
        #[arg(long)]
        console_url: Option<String>,
        /// How long the gateway waits for a provider's answer to start
        /// before failing over to the next candidate.
        #[arg(long, default_value_t = 60)]
        upstream_timeout_s: u64,
        /// Failed authentications from one address in a minute after which
        /// that address is refused for a minute.
        #[arg(long, default_value_t = 30)]
        auth_failure_limit: usize,
    },
    /// API tokens (per organisation and role; stored hashed).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Export records, a summary or the audit log as CSV, JSON or PDF; `export verify FILE` checks one.
    Export(ExportArgs),
    /// Sync with a central server: `sync link`, `sync [--watch]`, `sync status`, `sync resolve`.
    Sync(sync::SyncArgs),
    /// Show where the store is and what it holds.
    Info {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OrgCmd {
    /// Create an organisation.
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long, default_value = "UTC")]
        timezone: String,
        #[arg(long)]
        json: bool,
    },
    /// List organisations.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// The period and filters of `usage records` and `export`.
#[derive(Args)]
pub(crate) struct FilterArgs {
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub operation: Option<String>,
    #[arg(long)]
    pub investigation: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    /// The record's status: ok, error, timeout, rate_limited...
    #[arg(long)]
    pub status: Option<String>,
    /// A part of the investigation, ASCII letters in any case (--investigation is the exact one).
    #[arg(long)]
    pub investigation_contains: Option<String>,
    /// A part of the user, ASCII letters in any case.
    #[arg(long)]
    pub user_contains: Option<String>,
}

impl FilterArgs {
    /// The records these flags select, as the facade takes them.
    pub fn query(self, after_seq: Option<i64>, limit: Option<i64>) -> RecordQuery {
        let FilterArgs { from, to, provider, model, operation, investigation, user, status, investigation_contains, user_contains } = self;
        let filter = argus_domain::analytics::RecordFilter {
            provider,
            model,
            operation,
            investigation,
            user,
            status,
            investigation_contains,
            user_contains,
        };
        RecordQuery { after_seq, limit, ..RecordQuery::of(from, to, filter) }
    }
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ExportArgs {
    #[command(subcommand)]
    verify: Option<ExportSub>,
    #[arg(long)]
    org: Option<String>,
    /// csv, json or pdf.
    #[arg(long)]
    format: Option<String>,
    /// records (one row per record; a PDF lists up to 10,000), summary
    /// (grouped totals; the PDF report) or audit (the audit log; without
    /// --from, the whole log).
    #[arg(long, default_value = "records")]
    kind: String,
    /// The grouping of a summary: provider, model, operation, investigation, user, day, week, month.
    #[arg(long)]
    by: Option<String>,
    #[command(flatten)]
    filters: FilterArgs,
    /// --kind audit: entries whose actor contains this (any case).
    #[arg(long)]
    actor: Option<String>,
    /// --kind audit: entries whose action contains this (`budget.set`...).
    #[arg(long)]
    action: Option<String>,
    /// --kind audit: entries whose object contains this.
    #[arg(long)]
    object: Option<String>,
    /// The file to write (its metadata goes beside it as FILE.meta.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// CSV: the metadata as leading `#` lines instead of FILE.meta.json.
    #[arg(long)]
    meta_comments: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub(crate) enum ExportSub {
    /// Recompute the checksum and totals of a CSV or JSON export (a PDF: its file checksum) and compare them with its metadata.
    Verify {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Make a token; prints the token alone on stdout (it is not shown again).
    Create {
        #[arg(long)]
        org: String,
        /// ingest, analyst, auditor or admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    Revoke {
        #[arg(long)]
        org: String,
        id: i64,
    },
}

#[derive(Subcommand)]
pub(crate) enum BudgetCmd {
    /// Set the default monthly budget, or one month's with --month; of the
    /// organisation, or of one scope with --scope.
    Set {
        #[arg(long)]
        org: String,
        /// KIND:VALUE (investigation:INV-7, user:ann, operation:chat,
        /// provider:openai); without it, the organisation's budget.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        amount: Option<String>,
        /// YYYY-MM; without it, the default for every month without its own.
        #[arg(long)]
        month: Option<String>,
        /// Percents, such as 80,90,100.
        #[arg(long)]
        thresholds: Option<String>,
        #[arg(long, conflicts_with = "no_hard_limit")]
        hard_limit: bool,
        #[arg(long)]
        no_hard_limit: bool,
        /// Alert when a day costs more than this many times the median day
        /// of the 14 before (such as 5); `none` turns spike alerts off.
        #[arg(long)]
        spike_factor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Month-to-date spend against the budget (of a scope with --scope).
    Status {
        #[arg(long)]
        org: String,
        /// KIND:VALUE; without it, the organisation's budget.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List every budget: the organisation's and each scope's.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AlertsCmd {
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alert.
    Ack {
        #[arg(long)]
        org: String,
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Where alerts go besides the webhook: Slack, e-mail, signed webhooks.
    #[command(subcommand)]
    Channel(ChannelCmd),
}

#[derive(Subcommand)]
pub(crate) enum ChannelCmd {
    /// Add a channel: `--kind slack --url URL`, `--kind email --to ADDR --smtp smtp://HOST:PORT [--from ADDR]
    /// [--smtp-user USER [--password-env VAR]]` or `--kind webhook --url URL`. `serve` delivers to it.
    Add {
        #[arg(long)]
        org: String,
        /// slack, email or webhook.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// smtp://HOST:PORT (STARTTLS when the server offers it) or smtps://HOST:PORT.
        #[arg(long)]
        smtp: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        smtp_user: Option<String>,
        /// The environment variable the password is read from when an e-mail is sent (default ARGUS_USAGE_SMTP_PASSWORD); it is never stored.
        #[arg(long)]
        password_env: Option<String>,
        /// Allow this machine and private networks as the target (serve needs the same flag).
        #[arg(long)]
        allow_private_targets: bool,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    Remove {
        #[arg(long)]
        org: String,
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Send a test message to a channel now, from this machine, and say what came back.
    Test {
        #[arg(long)]
        org: String,
        id: i64,
        /// Allow this machine and private networks as the target.
        #[arg(long)]
        allow_private_targets: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum ProviderCmd {
    Set {
        #[arg(long)]
        org: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        enabled: Option<bool>,
        #[arg(long)]
        priority: Option<i64>,
        /// Requests per rolling hour, or `none`.
        #[arg(long)]
        hourly_limit: Option<String>,
        /// Requests per rolling 24 hours, or `none`.
        #[arg(long)]
        daily_limit: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// The gateway's upstream: the base URL the provider's own SDK takes
        /// (https://api.openai.com/v1, https://api.anthropic.com, ...).
        #[arg(long)]
        base_url: Option<String>,
        /// The environment variable of the serving process that holds the
        /// provider's key (the key itself is never stored).
        #[arg(long)]
        api_key_env: Option<String>,
        /// The upstream's dialect: openai (chat completions) or anthropic
        /// (Messages); the provider's own by default.
        #[arg(long)]
        api: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AliasCmd {
    /// Set an alias: `--targets openai/gpt-4o,anthropic/claude-sonnet-4-5`
    /// (tried in the organisation's provider priority order).
    Set {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        targets: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    Remove {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum FxCmd {
    /// Import rates: CSV with the header date,from,to,rate (1 `from` = `rate` `to`), or a JSON array of such objects.
    Import {
        file: PathBuf,
        /// The organisation's own rates (they come first of a date); without it, every organisation's.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List rates: an organisation's (into its currency), or every shared one.
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PricesCmd {
    /// Import price versions from CSV or JSON, or LiteLLM's price file (re-importing adds nothing).
    Import {
        file: PathBuf,
        /// Import as the organisation's negotiated prices.
        #[arg(long)]
        org: Option<String>,
        /// `litellm`: LiteLLM's model_prices_and_context_window.json; otherwise CSV or JSON, told by the content.
        #[arg(long, value_parser = ["csv", "json", "litellm"])]
        format: Option<String>,
        /// With --format litellm: when the versions take effect (default now).
        #[arg(long)]
        effective_from: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The models in the ledger that have no price, are priced by a deprecated row, or through a fallback rate.
    Check {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// List price versions.
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RecordArgs {
    #[arg(long)]
    org: String,
    #[arg(long)]
    provider: String,
    #[arg(long)]
    model: String,
    #[arg(long)]
    operation: String,
    // Signed, so that a negative count reaches the record's validation,
    // whose message names the field and the rule.
    #[arg(long)]
    input_tokens: i64,
    #[arg(long)]
    output_tokens: i64,
    #[arg(long)]
    cached_input_tokens: Option<i64>,
    #[arg(long)]
    cache_write_tokens: Option<i64>,
    /// Input written to a cache kept an hour (disjoint from --cache-write-tokens).
    #[arg(long)]
    cache_write_1h_tokens: Option<i64>,
    /// standard (default), batch, flex or priority.
    #[arg(long)]
    service_tier: Option<String>,
    #[arg(long)]
    investigation: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    latency_ms: Option<i64>,
    /// When the call happened (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// The record id; default a new UUIDv7.
    #[arg(long)]
    id: Option<String>,
    /// The admission reservation this call settles.
    #[arg(long)]
    reservation: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum UsageCmd {
    /// Totals and breakdowns over a period (default: this month).
    Summary {
        #[arg(long)]
        org: String,
        /// The period, and the records to count (as `usage records`).
        #[command(flatten)]
        filters: FilterArgs,
        /// provider, model, operation, investigation, user, day, week or month.
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List records with their cost.
    Records {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        filters: FilterArgs,
        #[arg(long)]
        after_seq: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// seq (the order stored; page with --after-seq), time (oldest call first) or time_desc (newest first; page with --cursor)
        #[arg(long)]
        order: Option<String>,
        /// In time order: the next_cursor of the page before
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn print_json<T: Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::from).and_then(|_| writeln!(out));
    ended_if_gone(written);
}

/// One line of output (the `outln!` macro).
pub(crate) fn out_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    ended_if_gone(out.write_fmt(args).and_then(|_| out.write_all(b"\n")));
}

/// Ends the process when standard output's reader has gone: nothing more
/// can be said (every write it made is committed or not begun).
fn ended_if_gone(written: std::io::Result<()>) {
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
    }
}

/// The outcome of a command: its exit code.
pub(crate) type Outcome = Result<ExitCode, (OpsError, bool)>;

/// Every option that takes a value accepts one that looks negative
/// (`--amount -50`), so that the user reads our "is negative" message
/// naming the field rather than clap's "unexpected argument".
fn negatives_are_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| if a.get_action().takes_values() { a.allow_negative_numbers(true) } else { a }).mut_subcommands(negatives_are_values)
}

fn main() -> ExitCode {
    let cli = {
        use clap::{CommandFactory, FromArgMatches};
        let matches = negatives_are_values(Cli::command()).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ARGUS_USAGE_LOG").unwrap_or_else(|_| {
            if matches!(cli.cmd, Cmd::Serve { .. }) {
                "info".into()
            } else {
                "warn".into()
            }
        }))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let json = wants_json(&cli.cmd);
    let path = cli.db.clone().unwrap_or_else(default_db_path);
    // The system clock only: a shipped binary has no way to move time (tests
    // move it from outside the process, with libfaketime).
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "local".into()));
    let result = Ops::open(&path, clock, actor).map_err(|e| (e, json)).and_then(|mut ops| run(&mut ops, cli.cmd));
    match result {
        Ok(code) => code,
        Err((e, json)) => {
            if json {
                print_json(&serde_json::json!({"error": e}));
            }
            eprintln!("error: {}", e.message);
            ExitCode::from(1)
        }
    }
}

fn wants_json(cmd: &Cmd) -> bool {
    match cmd {
        Cmd::Org(OrgCmd::Create { json, .. } | OrgCmd::List { json }) => *json,
        Cmd::Prices(PricesCmd::Import { json, .. } | PricesCmd::List { json, .. } | PricesCmd::Check { json, .. }) => *json,
        Cmd::Record(a) => a.json,
        Cmd::Fx(FxCmd::Import { json, .. } | FxCmd::List { json, .. }) => *json,
        Cmd::Ingest { json, .. } | Cmd::Reprice { json, .. } | Cmd::Demo { json, .. } | Cmd::Info { json } => *json,
        Cmd::Usage(UsageCmd::Summary { json, .. } | UsageCmd::Records { json, .. }) => *json,
        Cmd::Budget(BudgetCmd::Set { json, .. } | BudgetCmd::Status { json, .. } | BudgetCmd::List { json, .. }) => *json,
        Cmd::Alerts(AlertsCmd::List { json, .. } | AlertsCmd::Ack { json, .. }) => *json,
        Cmd::Alerts(AlertsCmd::Channel(
            ChannelCmd::Add { json, .. } | ChannelCmd::List { json, .. } | ChannelCmd::Remove { json, .. } | ChannelCmd::Test { json, .. },
        )) => *json,
        Cmd::Provider(ProviderCmd::Set { json, .. } | ProviderCmd::List { json, .. }) => *json,
        Cmd::Alias(AliasCmd::Set { json, .. } | AliasCmd::List { json, .. }) => *json,
        Cmd::Alias(AliasCmd::Remove { .. }) => false,
        Cmd::Admit { json, .. } | Cmd::Route { json, .. } | Cmd::Forecast { json, .. } => *json,
        Cmd::Token(TokenCmd::List { json, .. }) => *json,
        Cmd::Serve { .. } | Cmd::Token(_) => false,
        Cmd::Sync(a) => a.json(),
        Cmd::Export(a) => a.json || matches!(a.verify, Some(ExportSub::Verify { json: true, .. })),
    }
}

fn run(ops: &mut Ops, cmd: Cmd) -> Outcome {
    let json = wants_json(&cmd);
    let e = |err: OpsError| (err, json);
    match cmd {
        Cmd::Org(c) => ledger::org(ops, c).map_err(e),
        Cmd::Prices(c) => ledger::prices(ops, c).map_err(e),
        Cmd::Fx(c) => ledger::fx(ops, c).map_err(e),
        Cmd::Record(a) => ledger::record(ops, a).map_err(e),
        Cmd::Ingest { file, json } => ingest(ops, &file, json).map_err(e),
        Cmd::Usage(c) => ledger::usage(ops, c).map_err(e),
        Cmd::Reprice { org, from, to, apply, json } => ledger::reprice(ops, &org, from.as_deref(), to.as_deref(), apply, json).map_err(e),
        Cmd::Demo { org, json } => ledger::demo(ops, &org, json).map_err(e),
        Cmd::Budget(c) => controls::budget(ops, c).map_err(e),
        Cmd::Alerts(c) => controls::alerts(ops, c).map_err(e),
        Cmd::Provider(c) => controls::provider(ops, c).map_err(e),
        Cmd::Alias(c) => controls::alias(ops, c).map_err(e),
        Cmd::Admit { org, provider, estimated_cost, investigation, user, operation, token, json } => {
            let keys = CallKeys {
                operation: operation.as_deref(),
                investigation: investigation.as_deref(),
                user: user.as_deref(),
                token: token.as_deref(),
                provider: None,
            };
            controls::admit(ops, &org, &provider, estimated_cost.as_deref(), &keys, json).map_err(e)
        }
        Cmd::Route { org, operation, investigation, user, token, dry_run, estimated_cost, json } => {
            let keys = CallKeys {
                operation: operation.as_deref(),
                investigation: investigation.as_deref(),
                user: user.as_deref(),
                token: token.as_deref(),
                provider: None,
            };
            controls::route(ops, &org, &keys, dry_run, estimated_cost.as_deref(), json).map_err(e)
        }
        Cmd::Forecast { org, scope, month, json } => controls::forecast(ops, &org, scope.as_deref(), month.as_deref(), json).map_err(e),
        Cmd::Serve { listen, ui, allow_private_targets, console_url, upstream_timeout_s, auth_failure_limit } => {
            if let Some(u) = console_url
                .as_deref()
                .filter(|u| !(u.starts_with("http://") || u.starts_with("https://")) || u.contains(char::is_whitespace))
            {
                let m =
                    format!("field `console_url`: {u:?} is not an http(s) URL; give the console's address, like https://argus.example.com");
                return Err(e(OpsError { field: Some("console_url".into()), ..OpsError::new(argus_domain::ErrorCode::BadInput, m) }));
            }
            let limits = ServeLimits { upstream_timeout_s, auth_failure_limit, console_url };
            serve(ops, &listen, ui, allow_private_targets, limits).map_err(e)
        }
        Cmd::Export(a) => export::run(ops, a).map_err(e),
        Cmd::Sync(a) => sync::run(ops, a),
        Cmd::Token(c) => access::token(ops, c).map_err(e),
        Cmd::Info { json } => access::info(ops, json).map_err(e),
    }
}

/// `ARGUS_USAGE_SERVER_KEY` when it is set (16 characters or more).
pub(crate) fn server_key_set() -> Option<Vec<u8>> {
    argus_client::outbox::server_key_from_env()
}

/// The server key for webhook signatures: `ARGUS_USAGE_SERVER_KEY`, or a
/// random one for this run (said plainly: secrets then change on restart).
fn server_key() -> Vec<u8> {
    match server_key_set() {
        Some(k) => k,
        None => {
            eprintln!("note: ARGUS_USAGE_SERVER_KEY is not set (16 characters or more); webhook signing secrets will change when the server restarts");
            let mut k = uuid::Uuid::new_v4().as_bytes().to_vec();
            k.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            k
        }
    }
}

/// The operator's limits of `serve`.
struct ServeLimits {
    upstream_timeout_s: u64,
    auth_failure_limit: usize,
    console_url: Option<String>,
}

fn serve(ops: &mut Ops, listen: &str, ui: Option<PathBuf>, allow_private_targets: bool, limits: ServeLimits) -> Result<ExitCode, OpsError> {
    let io = |m: String| OpsError::new(argus_domain::ErrorCode::Io, m);
    let path = ops.path().to_path_buf();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| io(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| io(format!("cannot listen on {listen}: {e}; choose another address with --listen")))?;
        let lock = argus_server::lock_store(&path).map_err(|e| OpsError::new(argus_domain::ErrorCode::Conflict, e.message))?;
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        eprintln!("argus-usage: serving {} on http://{addr}/api/v1 (Ctrl-C to stop)", path.display());
        eprintln!("argus-usage: the gateway (OpenAI- and Anthropic-compatible) is at http://{addr}/v1");
        let mut config = argus_server::Config::new(path, Arc::new(SystemClock), server_key());
        config.lock = Some(Arc::new(lock));
        config.allow_private_targets = allow_private_targets;
        config.upstream_timeout = std::time::Duration::from_secs(limits.upstream_timeout_s.max(1));
        config.auth_failure_limit = limits.auth_failure_limit;
        if let Some(dir) = ui {
            if !dir.join("index.html").exists() {
                return Err(io(format!("{} has no index.html; build the UI first (cd ui && npm ci && npm run build)", dir.display())));
            }
            eprintln!("argus-usage: the console is at http://{addr}/");
            config.ui_dir = Some(dir);
            config.console_url = Some(format!("http://{addr}"));
        }
        if let Some(u) = limits.console_url {
            config.console_url = Some(u);
        }
        argus_server::run(listener, config, shutdown_signal()).await.map_err(|e| io(e.message))
    })?;
    eprintln!("argus-usage: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn ingest(ops: &mut Ops, file: &str, json: bool) -> Result<ExitCode, OpsError> {
    let io_err = |err: std::io::Error| {
        OpsError::new(argus_domain::ErrorCode::Io, format!("cannot read {file}: {err}; check the path, or use - for stdin"))
    };
    let (reader, size): (Box<dyn std::io::BufRead>, Option<u64>) = if file == "-" {
        (Box::new(BufReader::with_capacity(1 << 16, std::io::stdin().lock())), None)
    } else {
        let f = std::fs::File::open(file).map_err(io_err)?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 16, f)), size)
    };
    let bar = if std::io::stderr().is_terminal() {
        let b = match size {
            Some(n) => indicatif::ProgressBar::new(n).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            ),
            None => indicatif::ProgressBar::new_spinner(),
        };
        Some(b)
    } else {
        None
    };
    let report = ops.ingest(reader, |p| {
        if let Some(b) = &bar {
            b.set_position(p.bytes);
            b.set_message(format!("{} lines: {} accepted, {} duplicates, {} rejected", p.lines, p.accepted, p.duplicates, p.rejected));
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        print_json(&report);
    } else {
        outln!(
            "{} accepted, {} duplicates, {} rejected ({} conflicts), {} unpriced",
            report.accepted,
            report.duplicates,
            report.rejected.len(),
            report.conflicts,
            report.unpriced
        );
        for r in &report.rejected {
            eprintln!("line {}: {}", r.line, r.error);
        }
    }
    Ok(if report.rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_summary(s: &argus_ops::api::Summary) {
    outln!("{} from {} to {} ({})", s.org, s.from, s.to, s.timezone);
    outln!(
        "cost {} {} over {} requests ({} input, {} output, {} cached input, {} cache write tokens)",
        s.cost,
        s.currency,
        s.requests,
        s.input_tokens,
        s.output_tokens,
        s.cached_input_tokens,
        s.cache_write_tokens
    );
    if s.unpriced_requests > 0 {
        outln!("WARNING: {} requests are unpriced (no price for their model at that time, or no exchange rate of their day yet) and not in the cost; add prices or rates and run `argus-usage reprice`", s.unpriced_requests);
    }
    let change = s.previous.cost_change_percent.as_deref().map(|p| format!(" ({p}%)")).unwrap_or_default();
    outln!("previous period: cost {} {} over {} requests{change}", s.previous.cost, s.currency, s.previous.requests);
    if let Some(by) = &s.by {
        let dims: Vec<&str> = by.split(',').collect();
        let mut head = dims.clone();
        head.extend(["requests", "input", "output", "cost", "unpriced"]);
        let mut t = Table::new(&head);
        t.right_align(&(dims.len()..head.len()).collect::<Vec<_>>());
        for g in &s.groups {
            let mut row: Vec<String> = g.keys.iter().map(|k| k.clone().unwrap_or_else(|| "(none)".into())).collect();
            row.extend([
                g.requests.to_string(),
                g.input_tokens.to_string(),
                g.output_tokens.to_string(),
                g.cost.to_string(),
                g.unpriced_requests.to_string(),
            ]);
            t.row(row);
        }
        if s.groups.is_empty() {
            outln!("no usage in this period");
        } else {
            t.print();
        }
    }
}
