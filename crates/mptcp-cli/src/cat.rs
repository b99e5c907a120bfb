//! `mptcp cat connect HOST:PORT` and `mptcp cat listen PORT`: stdin to the connection,
//! the connection to stdout. Stdin's end closes the sending side (DATA_FIN); the command
//! exits once both directions are closed. Ctrl-C stops it cleanly.

use crate::net_args::{run_async, NetArgs};
use clap::{Args, Subcommand};
use mptcp_net::{Backend, NetStream};
use std::io;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufWriter};

/// How long to wait, after both directions ended, for the close handshake to finish.
const CLOSE_LINGER: Duration = Duration::from_secs(5);
/// Longest wait for the runtime to send the MP_FASTCLOSE after an interrupt, before it stops.
const ABORT_FLUSH: Duration = Duration::from_secs(1);

/// Arguments of `mptcp cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    #[command(subcommand)]
    mode: CatMode,
}

#[derive(Debug, Subcommand)]
enum CatMode {
    /// Connect to HOST:PORT.
    Connect {
        /// The server, HOST:PORT.
        target: String,
    },
    /// Accept one connection on PORT.
    Listen {
        /// The port.
        port: u16,
    },
}

/// Runs the subcommand.
pub fn run(net: &NetArgs, args: &CatArgs) -> ExitCode {
    if let Err(e) = net.endpoint_config() {
        eprintln!("mptcp cat: {e}");
        return ExitCode::from(1);
    }
    run_async("mptcp cat", async {
        let backend = net.build().await?;
        let aborter = std::sync::Mutex::new(None);
        // Pinned outside the select so that an interrupt does not drop the session (and
        // with it the stream, which would start a graceful close) before the abort.
        let result = {
            let session = session(net, &backend, &args.mode, &aborter);
            tokio::pin!(session);
            tokio::select! {
                r = &mut session => r,
                sig = mptcp_net::signal::terminated() => {
                    // Tell the peer (MP_FASTCLOSE / RST) before the stack goes away.
                    let handle = aborter.lock().ok().and_then(|mut a| a.take());
                    if let Some(h) = handle {
                        h.abort_and_flush(ABORT_FLUSH).await;
                    }
                    Err(format!("interrupted by {sig}"))
                }
            }
        };
        backend.shutdown().await;
        result
    })
}

async fn session(
    net: &NetArgs,
    backend: &Backend,
    mode: &CatMode,
    aborter: &std::sync::Mutex<Option<mptcp_net::AbortHandle>>,
) -> Result<(), String> {
    // The listener stays open for the whole session: the kernel accepts MP_JOINs only
    // through a listening socket (further connections are not accepted).
    let mut _listener = None;
    let stream = match mode {
        CatMode::Connect { target } => {
            let remote = net.resolve(target).await?;
            backend
                .connect(remote)
                .await
                .map_err(|e| format!("cannot connect to {target}: {e}"))?
        }
        CatMode::Listen { port } => {
            let listener = backend
                .listen(*port)
                .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
            let (stream, _peer) = listener
                .accept()
                .await
                .map_err(|e| format!("accept failed: {e}"))?;
            _listener = Some(listener);
            stream
        }
    };
    if let (Ok(mut slot), Some(h)) = (aborter.lock(), stream.abort_handle()) {
        *slot = Some(h);
    }
    let fallback_at_start = stream.is_fallback();
    if fallback_at_start {
        eprintln!("mptcp cat: the peer does not speak MPTCP: fell back to TCP");
    }
    let stream = pipe(stream).await.map_err(|e| format!("connection: {e}"))?;
    if !fallback_at_start && stream.is_fallback() {
        eprintln!(
            "mptcp cat: MPTCP signalling failed on the path: fell back to TCP mid-connection"
        );
    }
    Ok(())
}

/// Copies stdin to the stream and the stream to stdout until both directions are done.
async fn pipe(stream: NetStream) -> io::Result<NetStream> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let up = async {
        let mut stdin = tokio::io::stdin();
        tokio::io::copy(&mut stdin, &mut wr).await?;
        wr.shutdown().await
    };
    let down = async {
        let mut out = BufWriter::with_capacity(64 * 1024, tokio::io::stdout());
        tokio::io::copy(&mut rd, &mut out).await?;
        out.flush().await
    };
    tokio::try_join!(up, down)?;
    let stream = rd.unsplit(wr);
    // Give the last acknowledgements time to arrive; a slow close is not an error.
    let _ = tokio::time::timeout(CLOSE_LINGER, stream.closed()).await;
    Ok(stream)
}
