//! `consentgate serve [--config FILE]`.

use std::path::{Path, PathBuf};

use super::{Failure, init_logging, resolve_config};
use crate::config::Config;
use crate::gateway::{self, RunningGateway};

/// Arguments of `serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (default: `./consentgate.toml`, else embedded defaults in `./data`).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), Failure> {
    init_logging();
    let config = resolve_config(args.config.as_deref(), true)?;
    serve(&config, shutdown_signal())
}

/// Runs the gateway on `config`, prints its addresses, and serves until `stop` completes;
/// then finishes the requests in flight and stops.
pub(super) fn serve<F>(config: &Config, stop: F) -> Result<(), Failure>
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Work(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let gateway = gateway::start(config).map_err(|e| {
            if e.is_configuration() {
                Failure::Usage(e.to_string())
            } else {
                Failure::Work(e.to_string())
            }
        })?;
        print_banner(config, &gateway);
        println!("ready; Ctrl-C stops the gateway");
        let handles = gateway.handles();
        tokio::spawn(async move {
            stop.await;
            tracing::info!("shutting down: finishing requests in flight");
            for handle in handles {
                handle.stop(true).await;
            }
        });
        gateway
            .run()
            .await
            .map_err(|e| Failure::Work(format!("the server failed: {e}")))
    })
}

/// Completes on Ctrl-C, SIGTERM, or when standard input reaches its end: the parent process
/// that started the gateway with a pipe as its input has closed it, or has ended.
pub(super) async fn shutdown_signal_or_end_of_input() {
    let (closed, input_ended) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::Builder::new()
        .name("stdin-watch".to_string())
        .spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = closed.send(());
        });
    if watcher.is_err() {
        tracing::warn!("cannot watch standard input; only signals stop the gateway");
        return shutdown_signal().await;
    }
    tokio::select! {
        _ = shutdown_signal() => {},
        _ = input_ended => {},
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The two addresses and, when the development bank certificate sits next to the
/// configuration, a `curl` command that pushes one transaction.
fn print_banner(config: &Config, gateway: &RunningGateway) {
    println!("consentgate is running");
    println!("  bank API (mutual TLS): https://{}", gateway.bank_addr);
    println!("  user/auditor API:      https://{}", gateway.api_addr);
    let Some(bank) = config.banks.first() else {
        println!("no bank is configured: add a [[banks]] entry to push data");
        return;
    };
    let folder = config.tls.client_ca.parent().unwrap_or(Path::new("."));
    let cert = folder.join(format!("bank-{}.pem", bank.id));
    let key = folder.join(format!("bank-{}.key", bank.id));
    if !cert.exists() || !key.exists() {
        return;
    }
    let today = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    println!();
    println!("push a transaction as `{}`:", bank.id);
    println!(
        "  curl --cacert {ca} --cert {cert} --key {key} -H 'content-type: application/json' \\\n    https://{addr}/v1/transactions -d '{{\"transactions\": [{{\"txn_id\": \"t-0001\", \"user_id\": \"u-42\", \"amount_minor\": 1299, \"currency\": \"USD\", \"merchant_name\": \"Blue Bottle Coffee\", \"merchant_category_code\": \"5814\", \"merchant_city\": \"Oakland\", \"merchant_country\": \"US\", \"card_last4\": \"4242\", \"channel\": \"in_store\", \"status\": \"authorized\", \"occurred_at\": \"{today}\"}}]}}'",
        ca = shown(&config.tls.client_ca),
        cert = shown(&cert),
        key = shown(&key),
        addr = gateway.bank_addr,
    );
}

/// A path relative to the working folder when it is below it (shorter to paste).
fn shown(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
