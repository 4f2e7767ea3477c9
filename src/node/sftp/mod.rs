//! One SFTP session, a task on its connection's single-threaded runtime.
//!
//! The task does three things:
//! - it always drains the SSH channel, also while a reply waits for the client's window, so
//!   russh's session loop is never blocked delivering data and keeps processing the client's
//!   window adjustments (the download stall of russh issue 493). Queued requests are bounded
//!   by bytes: only a client that floods requests without reading replies is ever made to wait.
//! - it answers requests in order against the user's jail with plain blocking file I/O. That
//!   is deliberate: the runtime belongs to this connection alone (see `node::serve_connection`),
//!   so a slow or hung disk stalls only this connection, and no request crosses threads.
//! - it hands replies to russh directly, small ones merged into one channel message.

pub mod attrs;
pub mod codec;
pub mod ops;
pub mod upload;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use russh::server::Msg;
use russh::{Channel, ChannelMsg};

use crate::node::jail::Jail;
use crate::node::ssh::SessionSlot;
use crate::node::SessionContext;

/// Request bytes queued before the session stops reading the channel: 32 writes of 32 KiB
/// or 4 of the largest, plenty to keep the disk busy while more arrive.
pub const REQUEST_QUEUE_BYTES: usize = 1 << 20;
/// Reply bytes waiting for the client's window before the session stops answering: what is
/// in flight sits in the SSH window and the socket, so this only smooths the hand-over.
pub const REPLY_QUEUE_BYTES: usize = 1 << 20;
/// How often a session held back by the node's queue budget looks again.
const BUDGET_RETRY: std::time::Duration = std::time::Duration::from_millis(10);
/// While the node drains, a session with no open handle that has been idle this long is
/// closed, so idle sessions do not hold the drain while batch jobs between two files do not
/// get cut.
const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_secs(2);
/// While the node drains, how often an idle session looks at whether it may close.
const DRAIN_CHECK: std::time::Duration = std::time::Duration::from_millis(250);
/// Small replies are merged into one channel message up to this size.
const COALESCE_BYTES: usize = 32 << 10;
type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), russh::Error>> + std::marker::Send + 'a>>;

/// Serves SFTP on `channel` until the client closes it or the connection ends; `slot` counts
/// the session in its connection's `max_channels` while it runs.
pub fn start(channel: Channel<Msg>, ctx: Arc<SessionContext>, jail: Jail, slot: SessionSlot) {
    tokio::spawn(async move {
        serve(channel, ctx, jail).await;
        drop(slot);
    });
}

async fn serve(channel: Channel<Msg>, ctx: Arc<SessionContext>, jail: Jail) {
    let (mut read_half, write_half) = channel.split();
    let mut session = ops::Session::new(ctx.clone(), jail);
    let mut framer = codec::Framer::default();
    let mut requests: VecDeque<Bytes> = VecDeque::new();
    let mut request_bytes = 0usize;
    let mut replies: VecDeque<Bytes> = VecDeque::new();
    let mut reply_bytes = 0usize;
    let mut sending: Option<(Sending<'_>, usize)> = None;
    let mut reading = true;
    let mut last_request = std::time::Instant::now();
    // What this session holds of the node's queue budget.
    let mut queued = ctx.shared.queues.account();
    // An idle session sleeps until the node drains, not on a timer: a thousand idle sessions
    // would otherwise wake their threads thousands of times a second. The token is this
    // session's own, so waiting on it contends with no other thread.
    let drain_begun = ctx.shared.draining.child_token().cancelled_owned();
    tokio::pin!(drain_begun);
    let mut draining = ctx.shared.draining.is_cancelled();

    loop {
        // Answer what has arrived, as long as replies are not piling up.
        while reply_bytes < REPLY_QUEUE_BYTES && queued.may_grow() {
            let Some(packet) = requests.pop_front() else {
                break;
            };
            last_request = std::time::Instant::now();
            request_bytes -= packet.len();
            let reply = session.handle(packet);
            reply_bytes += reply.len();
            replies.push_back(reply);
            queued.set(request_bytes + reply_bytes);
        }
        if sending.is_none() {
            if let Some(message) = next_message(&mut replies) {
                let len = message.len();
                sending = Some((Box::pin(write_half.data_bytes(message)), len));
            }
        }
        if !reading && requests.is_empty() && sending.is_none() {
            break;
        }
        queued.set(request_bytes + reply_bytes);
        let can_read = reading && request_bytes < REQUEST_QUEUE_BYTES && queued.may_grow();
        // Held back by the node's budget with nothing of ours in flight: look again shortly.
        let budget_wait =
            !queued.may_grow() && sending.is_none() && (reading || !requests.is_empty());
        if !can_read && sending.is_none() && !budget_wait {
            // Nothing to wait for but our own queue: go round and answer it.
            continue;
        }
        tokio::select! {
            msg = read_half.wait(), if can_read => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if let Err(e) = framer.push(data) {
                        tracing::warn!(session = ctx.id, "closing SFTP session: {e}");
                        break;
                    }
                    while let Some(packet) = framer.next_packet() {
                        ctx.conn.activity.request();
                        request_bytes += packet.len();
                        requests.push_back(packet);
                    }
                    queued.set(request_bytes + reply_bytes);
                }
                Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => reading = false,
                Some(_) => {}
            },
            result = async { (&mut sending.as_mut().expect("guarded").0).await }, if sending.is_some() => {
                let (_, len) = sending.take().expect("guarded");
                reply_bytes -= len;
                queued.set(request_bytes + reply_bytes);
                if result.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep(BUDGET_RETRY), if budget_wait => {}
            _ = &mut drain_begun, if !draining => draining = true,
            _ = tokio::time::sleep(DRAIN_CHECK), if draining && requests.is_empty() && sending.is_none() => {
                if session.open_handles() == 0
                    && last_request.elapsed() >= DRAIN_IDLE
                {
                    tracing::info!(session = ctx.id, "closing idle session: the node drains");
                    break;
                }
            }
        }
    }
    drop(sending);
    // Dropping the session closes every handle; uploads that never closed are removed.
    drop(session);
    let _ = write_half.eof().await;
    let _ = write_half.close().await;
}

/// The next channel message: one large reply as it is, or small replies merged.
fn next_message(replies: &mut VecDeque<Bytes>) -> Option<Bytes> {
    let first = replies.pop_front()?;
    let mergeable =
        |next: Option<&Bytes>, have: usize| next.is_some_and(|n| have + n.len() <= COALESCE_BYTES);
    if !mergeable(replies.front(), first.len()) {
        return Some(first);
    }
    let mut merged = BytesMut::with_capacity(COALESCE_BYTES);
    merged.extend_from_slice(&first);
    while mergeable(replies.front(), merged.len()) {
        merged.extend_from_slice(&replies.pop_front().expect("checked"));
    }
    Some(merged.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_replies_are_merged_large_ones_sent_alone() {
        let mut q: VecDeque<Bytes> = [10, 20, 40 << 10, 5, 6]
            .iter()
            .map(|n| Bytes::from(vec![1u8; *n]))
            .collect();
        let lens: Vec<usize> = std::iter::from_fn(|| next_message(&mut q))
            .map(|b| b.len())
            .collect();
        assert_eq!(lens, vec![30, 40 << 10, 11]);
    }
}
