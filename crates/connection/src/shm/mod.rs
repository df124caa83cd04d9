//! The shared-memory transport: a [`Listener`](crate::Listener) bound to an object name
//! accepts any number of clients, each connection its own pipe (a pair of rings) that
//! the listener creates and both sides hold.
//!
//! - The listener's object (kind `Listener`) is a [`backlog`]: a control block
//!   and `backlog` slots where clients ask and the listener answers.
//! - A connection's pipe is named `<listener>.c<number>` from when the listener makes it
//!   (the next one is made while the listener waits for a client) until the client holds
//!   its end, or the hand-over is given up; then its name is removed, so the pipe's memory
//!   goes when both ends are dropped or dead. A listener killed while it waits leaves that
//!   name behind, for `shmkit gc`.
//! - Then the authkey handshake runs over the pipe, as over a socket.

pub mod backlog;
mod inspect;

pub use inspect::inspect;

use std::sync::Mutex;
use std::time::Duration;

use shmkit_core::{
    CreateError, CreateOptions, Deadline, Expect, Handle, Kind, Layout, Name, Object, OpenError, OpenOptions,
    Spec, TypeDesc, WaitStrategy,
};
use shmkit_pipe::PipeOptions;

use self::backlog::{Answer, Backlog, Control, Settled, Slot, BOUND};
use crate::conn::Connection;
use crate::error::ConnError;
use crate::listener::Options;

/// Where the slots start in the body.
const SLOTS_AT: usize = 128;

/// How the two sides wait for each other during a hand-over and a handshake: each
/// answer comes within microseconds, so a short spin saves a sleep and a wake-up per
/// step (a sleeping peer is woken, and answers, in tens of microseconds).
pub(crate) const HANDING: WaitStrategy = WaitStrategy::SpinThenPark { spins: 4096 };

/// The largest backlog.
pub const MAX_BACKLOG: u32 = 1024;

/// The backlog unless told otherwise.
pub const DEFAULT_BACKLOG: u32 = 16;

const _: () = assert!(std::mem::size_of::<Control>() <= SLOTS_AT);

/// The layout of a listener's object: the control block, then the slots.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListenerLayout;

fn body_len(backlog: u32) -> usize {
    SLOTS_AT + backlog as usize * std::mem::size_of::<Slot>()
}

impl Layout for ListenerLayout {
    /// The number of slots.
    type Params<'a> = u32;
    /// The number of slots.
    type Geometry = usize;

    fn spec(&self, &backlog: &u32, participants: u32) -> Result<Spec, CreateError> {
        if !(1..=MAX_BACKLOG).contains(&backlog) {
            return Err(CreateError::InvalidSize {
                size: u64::from(backlog),
                reason: "a listener's backlog is from 1 to 1024 clients waiting to be accepted",
            });
        }
        Ok(Spec::new(Kind::Listener, body_len(backlog) as u64)
            .elem(TypeDesc::of::<u64>(), u64::from(backlog))
            .slots(participants))
    }

    fn expect(&self) -> Expect {
        Expect::kind(Kind::Listener)
    }

    fn init(&self, obj: &Object, backlog: u32) -> Result<(), CreateError> {
        let ctl = obj.view::<Control>(0).map_err(CreateError::from_layout)?;
        ctl.backlog.store(backlog, std::sync::atomic::Ordering::Relaxed);
        let me = obj.participant().map_err(|_| CreateError::ParticipantsFull { slots: obj.info().slots })?;
        ctl.listener.store(me.to_u64() | BOUND, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<usize, OpenError> {
        let info = obj.info();
        let corrupt = |reason| OpenError::Corrupt { reason };
        let backlog = u32::try_from(info.elem_count).map_err(|_| corrupt("the backlog is out of range"))?;
        if !(1..=MAX_BACKLOG).contains(&backlog) || info.body_len != body_len(backlog) as u64 {
            return Err(corrupt("the body does not match a listener's layout"));
        }
        Ok(backlog as usize)
    }
}

/// A listener's object (owned, or borrowed by a tool) and its backlog, checked.
struct Board<O: std::borrow::Borrow<Object> = Object> {
    obj: O,
    backlog: usize,
}

impl Board {
    fn new(h: Handle<ListenerLayout>) -> Self {
        let (obj, backlog) = h.into_parts();
        Self { obj, backlog }
    }
}

impl<O: std::borrow::Borrow<Object>> Board<O> {
    fn backlog(&self) -> Backlog<'_> {
        // The layout's check proved the control block and `backlog` slots in the body;
        // these cannot fail.
        let obj = self.obj.borrow();
        let ctl = obj.view::<Control>(0).expect("checked layout");
        let slots = obj.slice::<Slot>(SLOTS_AT, self.backlog).expect("checked layout");
        Backlog { ctl, slots }
    }

    fn alive(&self, id: u64) -> bool {
        self.obj.borrow().is_alive(shmkit_core::ParticipantId::from_u64(id))
    }

    /// Whether the listener is there: bound, alive and not closed.
    fn listening(&self) -> bool {
        let ctl = self.backlog().ctl;
        let id = ctl.listener.load(std::sync::atomic::Ordering::Acquire);
        id & BOUND != 0
            && ctl.closed.load(std::sync::atomic::Ordering::Acquire) == 0
            && self.alive(id & !BOUND)
    }
}

/// The name of connection `conn` of the listener `name`.
fn pipe_name(name: &str, conn: u64) -> String {
    format!("{name}.c{conn:016x}")
}

fn refused(name: &str) -> ConnError {
    ConnError::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        format!("the listener at '{name}' closed or died: start it again, then connect"),
    ))
}

/// The listening side: the object, the options, and the next connection's number.
pub(crate) struct ShmListener {
    board: Board,
    name: String,
    pid: u32,
    opts: Options,
    /// What the next hand-over uses; one accept offers a connection at a time.
    next: Mutex<Next>,
    /// The slots a hand-over of this listener is in (offered, waiting for the take): set
    /// and cleared under `next`'s lock, read without it by threads waiting for requests.
    busy: Box<[std::sync::atomic::AtomicBool]>,
}

/// What the next hand-over uses.
struct Next {
    /// The next connection's number.
    number: u64,
    /// Where the next scan for a request starts (round the backlog, for fairness).
    start: usize,
    /// The next connection's pipe, made while the listener waits for a client: creating
    /// one (reserving its rings' pages) takes longer than all the rest of a connect.
    spare: Option<(u64, shmkit_pipe::Connection)>,
}

impl Next {
    /// The spare pipe, made now if there is none.
    fn take_spare(&mut self, listener: &ShmListener) -> Result<(u64, shmkit_pipe::Connection), ConnError> {
        if let Some(spare) = self.spare.take() {
            return Ok(spare);
        }
        let number = self.number;
        self.number = self.number.wrapping_add(1);
        let create = CreateOptions::new().mode(listener.opts.get_mode()).unlink_on_drop(true);
        let popts = PipeOptions::new().capacity(listener.opts.get_capacity()).create_options(create);
        let pipe = shmkit_pipe::Connection::create_with(&pipe_name(&listener.name, number), &popts).map_err(
            |e| ConnError::Io(std::io::Error::other(format!("a connection's pipe could not be made: {e}"))),
        )?;
        Ok((number, pipe))
    }
}

impl ShmListener {
    pub fn bind(name: &str, opts: &Options) -> Result<Self, ConnError> {
        // The connections' names must be valid too, and their rings possible.
        Name::new(&pipe_name(name, 0)).map_err(|e| ConnError::Create(CreateError::InvalidName(e)))?;
        let capacity = opts.get_capacity();
        if capacity == 0 || capacity > shmkit_pipe::MAX_CAPACITY {
            return Err(ConnError::Create(CreateError::InvalidSize {
                size: capacity as u64,
                reason: "a connection's rings hold from 1 byte to 1 GiB (Options::capacity)",
            }));
        }
        let backlog = opts.get_backlog();
        let participants = backlog.saturating_mul(4).saturating_add(2).min(shmkit_core::header::MAX_SLOTS);
        let create = CreateOptions::new()
            .mode(opts.get_mode())
            .participants(participants)
            .unlink_on_drop(true)
            .replace_abandoned(true);
        let h = Handle::create_with(ListenerLayout, name, backlog, &create).map_err(ConnError::Create)?;
        let mut first = [0u8; 8];
        getrandom::getrandom(&mut first).map_err(|e| ConnError::Io(e.into()))?;
        let board = Board::new(h);
        let board_backlog = board.backlog;
        Ok(Self {
            board,
            name: name.to_owned(),
            pid: std::process::id(),
            opts: opts.clone(),
            next: Mutex::new(Next { number: u64::from_ne_bytes(first) >> 1, start: 0, spare: None }),
            busy: (0..board_backlog).map(|_| std::sync::atomic::AtomicBool::new(false)).collect(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands the next connection over, waiting until `deadline` for a client; then runs
    /// the handshake.
    pub fn accept(&self, deadline: Deadline) -> Result<Connection, ConnError> {
        if std::process::id() != self.pid {
            return Err(ConnError::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a shared-memory listener accepts in the process that bound it only",
            )));
        }
        let (pipe, limit) = self.hand_over(deadline)?;
        let mut conn = Connection::shm(pipe);
        if let Some(key) = self.opts.get_authkey() {
            // What is left of the time the client was given from the offer on.
            conn.handshake(limit.remaining().unwrap_or(Duration::MAX), |c| {
                c.deliver_challenge(key, false)?;
                c.answer_challenge(key, false)
            })?;
        }
        Ok(conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Next> {
        self.next.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds a request, offers it a new pipe, and waits for the client to take it;
    /// returns the pipe and the limit of the hand-over and handshake together
    /// (`Options::timeout` from the offer).
    ///
    /// Threads of this process may accept at once. They wait for requests side by side,
    /// and offer under a lock, each in a slot no other hand-over is in: two offers in one
    /// slot would both write its `conn` word, and a client that withdrew and asked again
    /// in the slot would otherwise be answered twice. The wait for the take is outside the
    /// lock, so one slow client delays no other accept.
    fn hand_over(&self, deadline: Deadline) -> Result<(shmkit_pipe::Connection, Deadline), ConnError> {
        let b = self.board.backlog();
        let alive = |c| self.board.alive(c);
        let busy = |i: usize| self.busy.get(i).is_none_or(|b| b.load(std::sync::atomic::Ordering::Acquire));
        let mut first = true;
        loop {
            // The first pass looks once even at a deadline passed (a `try_accept`); a pass
            // after a hand-over that came to nothing does not begin past it.
            if !std::mem::take(&mut first) && deadline.has_passed() {
                return Err(ConnError::Timeout);
            }
            let start = {
                let mut next = self.lock();
                // Forgeries filling the backlog would keep every request out.
                b.sweep(busy);
                let spare = next.take_spare(self)?;
                next.spare = Some(spare);
                next.start
            };
            let found = b
                .ctl
                .requests
                .wait_until(WaitStrategy::Park, deadline, || b.next_request(start, alive, busy));
            if found.is_none() {
                return Err(ConnError::Timeout);
            }
            let (i, client, number, pipe) = {
                let mut next = self.lock();
                b.sweep(busy);
                // Another thread may have answered it meanwhile.
                let Some((i, client)) = b.next_request(next.start, alive, busy) else { continue };
                next.start = (i + 1) % self.board.backlog;
                let (number, pipe) = next.take_spare(self)?;
                if !b.offer(i, client, number) {
                    // Withdrawn first; the pipe was never offered: it stays the spare.
                    next.spare = Some((number, pipe));
                    continue;
                }
                self.busy[i].store(true, std::sync::atomic::Ordering::Release);
                (i, client, number, pipe)
            };
            let done = Done { listener: self, slot: i };
            // Until the client takes it, however long it lives; its death ends the wait.
            let limit = Deadline::after(self.opts.get_timeout());
            let settled = b
                .ctl
                .requests
                .wait_checked(
                    HANDING,
                    limit,
                    || match b.settle(i, client) {
                        Settled::Pending => None,
                        s => Some(s),
                    },
                    || (!self.board.alive(client)).then(|| b.withdraw_offer(i, client)),
                )
                .unwrap_or_else(|| b.withdraw_offer(i, client));
            drop(done);
            // Taken or not, the name has done its work.
            let _ = shmkit_pipe::Connection::unlink(&pipe_name(&self.name, number));
            if settled == Settled::Taken {
                return Ok((pipe, limit));
            }
        }
    }
}

/// The end of a hand-over in slot `slot`, however it ends (even by a panic): the slot is
/// no longer busy, and the other accepts, which skipped a request made there meanwhile,
/// look again.
struct Done<'a> {
    listener: &'a ShmListener,
    slot: usize,
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        let l = self.listener;
        {
            let _next = l.lock();
            if let Some(b) = l.busy.get(self.slot) {
                b.store(false, std::sync::atomic::Ordering::Release);
            }
        }
        l.board.backlog().ctl.requests.notify_all();
    }
}

impl Drop for ShmListener {
    /// Closes the backlog (waiting clients fail at once); the object's name goes with
    /// the creator's handle.
    fn drop(&mut self) {
        if std::process::id() == self.pid {
            let ctl = self.board.backlog().ctl;
            ctl.closed.store(1, std::sync::atomic::Ordering::Release);
            ctl.answers.notify_all();
        }
    }
}

/// Connects to the shared-memory listener `name`: asks in its backlog, waits for a pipe,
/// takes it, and runs the handshake, all within the options' timeout.
pub(crate) fn connect(name: &str, opts: &Options) -> Result<Connection, ConnError> {
    let deadline = Deadline::after(opts.get_timeout());
    // An object still being made (or left half-made) is waited for within the deadline
    // only.
    let oopts = OpenOptions::new()
        .allow_foreign(opts.get_allow_foreign())
        .ready_timeout(deadline.remaining().unwrap_or(Duration::MAX));
    let board = open_board(name, &oopts, deadline)?;
    let pipe = take_pipe(&board, name, &oopts, deadline)?;
    drop(board); // leave the listener's participant slot to the next client
    let mut conn = Connection::shm(pipe);
    if let Some(key) = opts.get_authkey() {
        let left = deadline.remaining().unwrap_or(Duration::MAX);
        conn.handshake(left, |c| {
            c.answer_challenge(key, false)?;
            c.deliver_challenge(key, false)
        })?;
    }
    Ok(conn)
}

/// Opens the listener's object. Opening registers this process in its participant table,
/// which has room for four times the backlog; while it is full (more clients connecting
/// at once than that), this waits, looking again after 1 ms, then at most every 50 ms.
fn open_board(name: &str, oopts: &OpenOptions, deadline: Deadline) -> Result<Board, ConnError> {
    let mut pause = Duration::from_millis(1);
    loop {
        match Handle::open_with(ListenerLayout, name, oopts) {
            Ok(h) => return Ok(Board::new(h)),
            Err(OpenError::NotFound { .. }) => {
                return Err(ConnError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("nothing listens at '{name}': bind a Listener there first"),
                )))
            }
            Err(OpenError::ParticipantsFull { .. }) if !deadline.has_passed() => {
                std::thread::sleep(deadline.remaining().map_or(pause, |left| left.min(pause)));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(OpenError::ParticipantsFull { .. }) => return Err(ConnError::Timeout),
            Err(e) => return Err(ConnError::Open(e)),
        }
    }
}

/// What a waiting client finds, each time it looks.
enum Step {
    Offered(u64),
    Lost,
    Refused,
}

fn take_pipe(
    board: &Board,
    name: &str,
    oopts: &OpenOptions,
    deadline: Deadline,
) -> Result<shmkit_pipe::Connection, ConnError> {
    let b = board.backlog();
    let me =
        board.obj.participant().map_err(|e| ConnError::Io(std::io::Error::other(e.to_string())))?.to_u64();
    if !backlog::fits(me) {
        return Err(ConnError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the listener's participant table is larger than a backlog slot can name",
        )));
    }
    loop {
        if !board.listening() {
            return Err(refused(name));
        }
        // A place in the backlog: wait while it is full.
        let i = b
            .ctl
            .answers
            .wait_checked(
                WaitStrategy::Park,
                deadline,
                || b.request(me).map(Ok),
                || {
                    if !board.listening() {
                        return Some(Err(refused(name)));
                    }
                    b.reap(|c| board.alive(c));
                    None
                },
            )
            .ok_or(ConnError::Timeout)??;
        // The listener's answer.
        let step = b.ctl.answers.wait_checked(
            HANDING,
            deadline,
            || match b.answer(i, me) {
                Answer::Waiting => None,
                Answer::Offered(conn) => Some(Step::Offered(conn)),
                Answer::Lost => Some(Step::Lost),
            },
            || (!board.listening()).then_some(Step::Refused),
        );
        let conn = match step {
            Some(Step::Offered(conn)) => conn,
            Some(Step::Lost) => continue,
            Some(Step::Refused) => {
                b.withdraw(i, me);
                return Err(refused(name));
            }
            None => {
                b.withdraw(i, me);
                return Err(ConnError::Timeout);
            }
        };
        let pipe_name = pipe_name(name, conn);
        match shmkit_pipe::Connection::open_with(&pipe_name, oopts) {
            Ok(pipe) => {
                if b.take(i, me) {
                    let _ = shmkit_pipe::Connection::unlink(&pipe_name);
                    return Ok(pipe);
                }
                // The listener gave up on us first: ask again.
            }
            // Gone already: the listener gave up on us first.
            Err(OpenError::NotFound { .. }) => b.withdraw(i, me),
            Err(e) => {
                b.withdraw(i, me);
                return Err(ConnError::Io(std::io::Error::other(format!(
                    "the connection's pipe could not be opened: {e}"
                ))));
            }
        }
        if deadline.has_passed() {
            return Err(ConnError::Timeout);
        }
    }
}
