//! Termination signals: callers select on [`terminated`] so that a Ctrl-C unwinds normally
//! and every guard (routes, sysctls, device) is dropped.

use tokio::signal::unix::{signal, SignalKind};

/// Completes on SIGINT, SIGTERM or SIGHUP and names the signal. If no handler can be
/// installed it never completes.
pub async fn terminated() -> &'static str {
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    tokio::select! {
        _ = recv(&mut int) => "SIGINT",
        _ = recv(&mut term) => "SIGTERM",
        _ = recv(&mut hup) => "SIGHUP",
    }
}
