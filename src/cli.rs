//! The command line: `sipmap serve` and `sipmap accounts create`.

use std::io::Write;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{App, InitialAccount, ServeConfig, ensure_initial_account, shutdown_signal};
use crate::auth_token::AuthToken;
use crate::domain::NewAccount;
use crate::sid::AccountSid;
use crate::store;

/// A self-hosted, Twilio-compatible Source IP Mappings service.
#[derive(Debug, Parser)]
#[command(name = "sipmap", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (Voice v1 IpRecords and SourceIpMappings, API 2010 SIP Domains and
    /// Accounts).
    Serve(ServeArgs),
    /// Manage accounts directly in the database.
    #[command(subcommand)]
    Accounts(AccountsCommand),
}

/// Where the database is.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (created if missing, migrated at start).
    #[arg(
        long,
        env = "SIPMAP_DATABASE_URL",
        default_value = "sqlite://sipmap.db"
    )]
    pub database_url: String,
}

/// Options of `sipmap serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for the HTTP API; port 0 picks a free port.
    #[arg(long, env = "SIPMAP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Base of the absolute URLs in responses (e.g. `https://sipmap.example.com`); defaults to
    /// `http://` and the listen address.
    #[arg(long, env = "SIPMAP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SIP domain names must end with `.` and this suffix.
    #[arg(long, env = "SIPMAP_DOMAIN_SUFFIX", default_value = "sip.twilio.com")]
    pub domain_suffix: String,
    /// Make this account exist (with `TWILIO_AUTH_TOKEN` as its token).
    #[arg(
        long,
        env = "TWILIO_ACCOUNT_SID",
        hide_env_values = true,
        requires = "auth_token"
    )]
    pub account_sid: Option<String>,
    /// The auth token of `TWILIO_ACCOUNT_SID`; only its hash is stored.
    #[arg(
        long,
        env = "TWILIO_AUTH_TOKEN",
        hide_env_values = true,
        requires = "account_sid"
    )]
    pub auth_token: Option<String>,
}

/// The `accounts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create a top-level account and print its SID and auth token as JSON (the token is shown
    /// only this once).
    Create {
        /// A name for the account.
        #[arg(long, default_value = "sipmap")]
        friendly_name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Accounts(AccountsCommand::Create {
            friendly_name,
            database,
        }) => create_account(&database.database_url, friendly_name).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let from_env = match (args.account_sid, args.auth_token) {
        (Some(sid), Some(token)) => {
            let sid = AccountSid::parse(&sid).with_context(|| {
                format!("TWILIO_ACCOUNT_SID {sid:?} is not AC followed by 32 hex digits")
            })?;
            anyhow::ensure!(!token.is_empty(), "TWILIO_AUTH_TOKEN is empty");
            Some((sid, AuthToken::from_string(token)))
        }
        _ => None,
    };
    let config = ServeConfig {
        listen: args.listen,
        database_url: args.database.database_url,
        public_url: args.public_url,
        domain_suffix: args.domain_suffix,
    };
    let app = App::build(&config).await?;
    let mut out = std::io::stdout().lock();
    match ensure_initial_account(app.store().as_ref(), from_env).await? {
        InitialAccount::FromEnvironment(sid) => {
            tracing::info!(account.sid = %sid, "account from TWILIO_ACCOUNT_SID is ready");
        }
        InitialAccount::Created(sid, token) => {
            writeln!(
                out,
                "sipmap: the database had no account, so one was created. Its auth token is \
                 shown only this once:\nexport TWILIO_ACCOUNT_SID={sid}\nexport TWILIO_AUTH_TOKEN={}",
                token.expose()
            )?;
        }
        InitialAccount::Existing => {}
    }
    writeln!(
        out,
        "sipmap: HTTP API listening on http://{}",
        app.http_addr()
    )?;
    out.flush()?;
    drop(out);
    tracing::info!(
        http.addr = %app.http_addr(),
        database = %store::redact_url(&config.database_url),
        "sipmap is serving"
    );
    app.run(shutdown_signal()).await
}

async fn create_account(database_url: &str, friendly_name: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        friendly_name.chars().count() <= 64,
        "--friendly-name must be at most 64 characters long"
    );
    let store = store::connect(database_url).await?;
    let token = AuthToken::generate();
    let account = store
        .create_account(NewAccount {
            sid: AccountSid::generate(),
            owner_sid: None,
            friendly_name,
            credential: token.hash(),
        })
        .await?;
    let body = serde_json::json!({
        "sid": account.sid,
        "auth_token": token.expose(),
        "friendly_name": account.friendly_name,
    });
    println!("{body}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
