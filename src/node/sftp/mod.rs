//! One SFTP session: three parts connected by bounded queues.
//!
//! - The reader (async) always drains the SSH channel, so russh's session loop is never
//!   blocked delivering data and keeps processing the client's window adjustments (the
//!   download stall of russh issue 493). It reassembles packets and queues them, bounded by
//!   bytes: only a client that floods requests without reading replies ever waits.
//! - The worker (a thread of its own) answers requests in order against the user's jail with
//!   plain blocking file I/O: a slow or hung disk stalls this session only.
//! - The writer (async) sends the replies, coalescing small ones into one channel message,
//!   and waits for the client's window; the worker waits only when replies pile up.

pub mod codec;
pub mod ops;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::node::jail::Jail;
use crate::node::SessionContext;

/// Request bytes queued for the worker before the reader waits.
const REQUEST_QUEUE_BYTES: usize = 16 << 20;
/// Reply bytes queued for the writer before the worker waits.
const REPLY_QUEUE_BYTES: usize = 8 << 20;
/// Small replies are merged into one channel message up to this size.
const COALESCE_BYTES: usize = 32 << 10;
/// Stack of a session's worker thread: the handlers keep their buffers on the heap.
const WORKER_STACK: usize = 256 << 10;

type Queued = (Bytes, OwnedSemaphorePermit);

/// Serves SFTP on `channel` until the client closes it or the connection ends.
pub async fn serve(channel: Channel<Msg>, ctx: Arc<SessionContext>, jail: Jail) {
    let (mut read_half, write_half) = channel.split();
    let request_budget = Arc::new(Semaphore::new(REQUEST_QUEUE_BYTES));
    let reply_budget = Arc::new(Semaphore::new(REPLY_QUEUE_BYTES));
    let (request_tx, request_rx) = mpsc::unbounded_channel::<Queued>();
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Queued>();

    let runtime = tokio::runtime::Handle::current();
    let worker_ctx = ctx.clone();
    let worker = std::thread::Builder::new()
        .name(format!("sftp-{}", ctx.id))
        .stack_size(WORKER_STACK)
        .spawn(move || {
            worker(
                worker_ctx,
                jail,
                request_rx,
                reply_tx,
                reply_budget,
                runtime,
            )
        });
    if let Err(e) = worker {
        tracing::error!("could not start the session's worker thread: {e}");
        let _ = write_half.close().await;
        return;
    }

    let writer = tokio::spawn(async move {
        while let Some((first, permit)) = reply_rx.recv().await {
            let mut permits = vec![permit];
            let message = match reply_rx.try_recv() {
                Ok((next, permit)) if first.len() + next.len() <= COALESCE_BYTES => {
                    permits.push(permit);
                    let mut merged = BytesMut::with_capacity(COALESCE_BYTES);
                    merged.extend_from_slice(&first);
                    merged.extend_from_slice(&next);
                    while merged.len() < COALESCE_BYTES {
                        match reply_rx.try_recv() {
                            Ok((next, permit)) => {
                                merged.extend_from_slice(&next);
                                permits.push(permit);
                            }
                            Err(_) => break,
                        }
                    }
                    merged.freeze()
                }
                Ok((next, permit)) => {
                    // Too big to merge: send both as they are, in order.
                    if write_half.data_bytes(first).await.is_err() {
                        break;
                    }
                    permits.push(permit);
                    next
                }
                Err(_) => first,
            };
            if write_half.data_bytes(message).await.is_err() {
                break;
            }
            drop(permits);
        }
        let _ = write_half.eof().await;
        let _ = write_half.close().await;
    });

    let mut framer = codec::Framer::default();
    'read: while let Some(msg) = read_half.wait().await {
        match msg {
            ChannelMsg::Data { data } => {
                framer.push(&data);
                loop {
                    match framer.next_packet() {
                        Ok(Some(packet)) => {
                            let Ok(permit) = request_budget
                                .clone()
                                .acquire_many_owned(packet.len() as u32)
                                .await
                            else {
                                break 'read;
                            };
                            if request_tx.send((packet, permit)).is_err() {
                                break 'read;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(session = ctx.id, "closing SFTP session: {e}");
                            break 'read;
                        }
                    }
                }
            }
            ChannelMsg::Eof | ChannelMsg::Close => break,
            _ => {}
        }
    }
    drop(request_tx);
    let _ = writer.await;
}

fn worker(
    ctx: Arc<SessionContext>,
    jail: Jail,
    mut requests: mpsc::UnboundedReceiver<Queued>,
    replies: mpsc::UnboundedSender<Queued>,
    reply_budget: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
) {
    let mut session = ops::Session::new(ctx, jail);
    while let Some((packet, permit)) = requests.blocking_recv() {
        let reply = session.handle(packet);
        drop(permit);
        let size = reply.len().min(REPLY_QUEUE_BYTES) as u32;
        let Ok(permit) = runtime.block_on(reply_budget.clone().acquire_many_owned(size)) else {
            break;
        };
        if replies.send((reply, permit)).is_err() {
            break;
        }
    }
    // Dropping the session closes every handle; uploads that never closed are removed.
}
