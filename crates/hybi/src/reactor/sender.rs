//! Messages handed to a reactor from outside its callbacks' own connection: from other
//! threads (a tokio task, a worker pool) or from a handler that answers one connection by
//! writing to others (a chat room, a broadcast).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use hybi_proto::{CloseFrame, Message};

use super::ConnId;

/// What a [`Sender`] asks the loop to do.
#[derive(Debug)]
pub(crate) enum Command {
    Send(ConnId, Message),
    Broadcast(Message),
    Close(ConnId, CloseFrame),
}

/// The part of a reactor other threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    pub(crate) waker: mio::Waker,
    queue: Mutex<Vec<Command>>,
    /// Something is queued: the loop looks at the mutex only then.
    pending: AtomicBool,
    /// The thread running the loop, if one is: a handler's sends need no wake-up (the
    /// loop takes them after the events at hand), other threads' do.
    loop_thread: Mutex<Option<ThreadId>>,
}

impl Shared {
    pub(crate) fn new(waker: mio::Waker) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            waker,
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            loop_thread: Mutex::new(None),
        }
    }

    pub(crate) fn enter_loop(&self) {
        *self.loop_thread.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(std::thread::current().id());
    }

    pub(crate) fn leave_loop(&self) {
        *self.loop_thread.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn push(&self, command: Command) -> io::Result<()> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(command);
        self.pending.store(true, Ordering::Release);
        let on_loop = *self.loop_thread.lock().unwrap_or_else(|e| e.into_inner())
            == Some(std::thread::current().id());
        if on_loop {
            Ok(())
        } else {
            self.waker.wake()
        }
    }

    /// Something waits to be taken.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Moves what was queued into `into`; false (without locking) when nothing was.
    pub(crate) fn take_commands(&self, into: &mut Vec<Command>) -> bool {
        // A plain load first: the loop asks every turn, and nearly always nothing waits.
        if !self.pending.load(Ordering::Acquire) || !self.pending.swap(false, Ordering::AcqRel) {
            return false;
        }
        into.append(&mut self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        !into.is_empty()
    }
}

/// Sends messages to a [`Reactor`](super::Reactor)'s connections from any thread, or
/// from a [`Handler`](super::Handler) to connections other than the one at hand. Cheap
/// to clone.
///
/// A message is queued and delivered by the loop at its next turn, in the order sent.
/// It is dropped, with [`Handler::on_send_dropped`](super::Handler::on_send_dropped),
/// when its connection already holds `max_write_buffer` unsent bytes (uWebSockets' rule
/// for a slow reader: the queue of a connection that does not read cannot grow without
/// bound), and silently when its connection has closed or is not open yet.
#[derive(Clone, Debug)]
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<Shared>) -> Sender {
        Sender { shared }
    }

    /// Sends `message` (text, binary, ping or pong) to `id`. A `Message::Close` starts
    /// the closing handshake, as [`Sender::close`] does.
    pub fn send(&self, id: ConnId, message: Message) -> io::Result<()> {
        self.shared.push(Command::Send(id, message))
    }

    /// Sends `message` to every open connection of the reactor.
    pub fn broadcast(&self, message: Message) -> io::Result<()> {
        self.shared.push(Command::Broadcast(message))
    }

    /// Starts the closing handshake of `id` with `frame`.
    pub fn close(&self, id: ConnId, frame: CloseFrame) -> io::Result<()> {
        self.shared.push(Command::Close(id, frame))
    }
}
