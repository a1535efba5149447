//! `sipmap trace`: the SIP edge's recent decisions on a running server
//! (`/sipmap/v1/Decisions`), one block per decision with its steps, oldest first; with
//! `--follow`, polled every `--interval` seconds for new ones (by their `id`) until Ctrl-C.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use super::{ServerArgs, api_get};
use crate::http::wire::DECISIONS;

/// The most decisions one poll asks for (the API's largest page).
const POLL_PAGE: u32 = 1000;

/// Options of `sipmap trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Only the requests with this Call-ID.
    #[arg(long)]
    pub call_id: Option<String>,
    /// Only the requests from this address (`IP` or `IP:PORT`).
    #[arg(long)]
    pub source: Option<String>,
    /// Only the requests to this SIP domain (its name or SID).
    #[arg(long)]
    pub domain: Option<String>,
    /// Only the decisions that ended so: `admitted`, `forwarded`, `application`,
    /// `challenged`, `refused` or `unroutable`.
    #[arg(long)]
    pub outcome: Option<String>,
    /// How many recent decisions to show first.
    #[arg(long, default_value_t = 20)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Keep asking for new decisions, until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Seconds between two asks with --follow.
    #[arg(long, default_value_t = 2)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=60))]
    pub interval: u64,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Runs `sipmap trace`.
pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
    let first = fetch(&args, args.limit).await?;
    let mut last = show(&first, 0);
    if !args.follow {
        return Ok(());
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(args.interval)) => {}
        }
        let next = fetch(&args, POLL_PAGE).await?;
        last = show(&next, last);
    }
}

/// The decisions the filters of `args` let through, newest first, at most `size`.
async fn fetch(args: &TraceArgs, size: u32) -> anyhow::Result<Vec<Value>> {
    let mut query = format!("PageSize={size}");
    for (name, value) in [
        ("CallId", &args.call_id),
        ("Source", &args.source),
        ("Domain", &args.domain),
        ("Outcome", &args.outcome),
    ] {
        if let Some(v) = value {
            query.push_str(&format!("&{name}="));
            query.extend(form_urlencoded::byte_serialize(v.as_bytes()));
        }
    }
    let (status, body) = api_get(&args.server, &format!("{DECISIONS}?{query}")).await?;
    if status != 200 {
        println!("{body}");
        anyhow::bail!("the server answered {status}");
    }
    let v: Value = serde_json::from_str(&body).context("the server's answer is not JSON")?;
    Ok(v["decisions"].as_array().cloned().unwrap_or_default())
}

/// Prints the decisions of `newest_first` numbered after `last`, oldest first; gives the
/// highest number seen.
fn show(newest_first: &[Value], last: u64) -> u64 {
    let mut top = last;
    for d in newest_first.iter().rev() {
        let id = d["id"].as_u64().unwrap_or(0);
        if id > last {
            println!("{}", render(d));
            top = top.max(id);
        }
    }
    top
}

/// One decision as a block of text.
pub fn render(d: &Value) -> String {
    let s = |k: &str| d[k].as_str().unwrap_or("").to_owned();
    let code = match (d["response_code"].as_u64(), d["error_code"].as_u64()) {
        (Some(c), Some(e)) => format!(" {c} (error {e})"),
        (Some(c), None) => format!(" {c}"),
        _ => String::new(),
    };
    let mut out = format!(
        "{}  {} from {} over {}: {}{code}\n",
        s("date_created"),
        s("method"),
        s("source"),
        s("transport"),
        s("outcome"),
    );
    out.push_str(&format!("  call-id  {}\n", s("call_id")));
    out.push_str(&format!(
        "  domain   {} ({}), recognised by {}\n",
        s("domain_name"),
        s("domain_sid"),
        s("recognised_by")
    ));
    out.push_str(&format!(
        "  request  {}  from {}  to {}\n",
        s("request_uri"),
        s("from"),
        s("to")
    ));
    if let Some(t) = d["target"].as_str() {
        out.push_str(&format!("  target   {t}\n"));
    }
    for (i, step) in d["steps"].as_array().into_iter().flatten().enumerate() {
        let f = |k: &str| step[k].as_str().unwrap_or("").to_owned();
        out.push_str(&format!(
            "  {}. {:<11} {:<14} {}\n",
            i + 1,
            f("stage"),
            f("result"),
            f("detail")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_decision_reads_as_one_block_with_its_steps_in_order() {
        let d = json!({
            "id": 7, "date_created": "2026-12-08T00:01:02.345Z", "method": "INVITE",
            "source": "127.0.0.2:5060", "transport": "udp", "outcome": "refused",
            "response_code": 403, "error_code": 32201, "call_id": "abc@x",
            "domain_name": "acme.sip.twilio.com", "domain_sid": "SD1", "recognised_by": "request_uri",
            "request_uri": "sip:bob@acme.sip.twilio.com", "from": "alice@x", "to": "bob@acme",
            "target": null,
            "steps": [
                {"stage": "recognise", "result": "request_uri", "detail": "host"},
                {"stage": "gate", "result": "refused", "detail": "outside"},
            ],
        });
        let text = render(&d);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "2026-12-08T00:01:02.345Z  INVITE from 127.0.0.2:5060 over udp: refused 403 (error 32201)"
        );
        assert!(lines[1].contains("abc@x"));
        assert!(!text.contains("target"), "no target line without one");
        assert!(lines[4].starts_with("  1. recognise"), "{text}");
        assert!(lines[5].starts_with("  2. gate"), "{text}");
    }

    #[test]
    fn only_decisions_after_the_last_shown_are_shown_and_the_last_moves_on() {
        let page = vec![json!({"id": 5}), json!({"id": 4}), json!({"id": 3})];
        assert_eq!(show(&page, 0), 5);
        assert_eq!(show(&page, 5), 5, "nothing new");
        assert_eq!(show(&[json!({"id": 6})], 5), 6);
    }
}
