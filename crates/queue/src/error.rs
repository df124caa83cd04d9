//! The errors of queue operations. The put errors give the value back.

use std::fmt;

const NO_SLOT: &str = "this process could not join the queue: every participant slot is held by a live \
                       process (create the queue with more slots)";
const DISCONNECTED_PUT: &str = "the queue is closed, or every consumer is gone";
const DISCONNECTED_GET: &str = "the queue is empty and closed, or every producer is gone";

macro_rules! put_error {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub enum $name<T> {
            $($(#[$vdoc])* $variant(T),)*
        }

        impl<T> $name<T> {
            /// The value that was not put.
            pub fn into_inner(self) -> T {
                match self {
                    $(Self::$variant(v) => v,)*
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(_) => write!(f, concat!(stringify!($name), "::", stringify!($variant), "(..)")),)*
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(_) => f.write_str($msg),)*
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}
    };
}

macro_rules! get_error {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant => f.write_str($msg),)*
                }
            }
        }

        impl std::error::Error for $name {}
    };
}

put_error! {
    /// Why [`try_put`](crate::Queue::try_put) failed.
    TryPutError {
        /// The queue is full.
        Full => "the queue is full",
        /// See [`PutError::Disconnected`].
        Disconnected => DISCONNECTED_PUT,
        /// See [`PutError::NoSlot`].
        NoSlot => NO_SLOT,
    }
}

put_error! {
    /// Why a blocking [`put`](crate::Queue::put) failed.
    PutError {
        /// The queue was closed, or (for a queue created to report it) every consumer is
        /// gone.
        Disconnected => DISCONNECTED_PUT,
        /// This process (a forked child, say) could not register as a participant.
        NoSlot => NO_SLOT,
    }
}

put_error! {
    /// Why [`put_timeout`](crate::Queue::put_timeout) failed.
    PutTimeoutError {
        /// The queue stayed full until the deadline.
        Timeout => "the queue stayed full until the deadline",
        /// See [`PutError::Disconnected`].
        Disconnected => DISCONNECTED_PUT,
        /// See [`PutError::NoSlot`].
        NoSlot => NO_SLOT,
    }
}

get_error! {
    /// Why [`try_get`](crate::Queue::try_get) failed.
    TryGetError {
        /// The queue is empty.
        Empty => "the queue is empty",
        /// See [`GetError::Disconnected`].
        Disconnected => DISCONNECTED_GET,
        /// See [`GetError::NoSlot`].
        NoSlot => NO_SLOT,
    }
}

get_error! {
    /// Why a blocking [`get`](crate::Queue::get) failed.
    GetError {
        /// The queue is empty and either closed or every producer is gone (dead or
        /// detached) after one was seen.
        Disconnected => DISCONNECTED_GET,
        /// This process (a forked child, say) could not register as a participant.
        NoSlot => NO_SLOT,
    }
}

get_error! {
    /// Why [`get_timeout`](crate::Queue::get_timeout) failed.
    GetTimeoutError {
        /// The queue stayed empty until the deadline.
        Timeout => "the queue stayed empty until the deadline",
        /// See [`GetError::Disconnected`].
        Disconnected => DISCONNECTED_GET,
        /// See [`GetError::NoSlot`].
        NoSlot => NO_SLOT,
    }
}

get_error! {
    /// Why [`task_done`](crate::JoinableQueue::task_done) failed.
    TaskDoneError {
        /// Called more times than there were items put (Python's `ValueError`).
        TooManyCalls => "task_done() called more times than there were items put",
    }
}

get_error! {
    /// Why [`join_timeout`](crate::JoinableQueue::join_timeout) failed.
    JoinTimeoutError {
        /// Items were still unfinished at the deadline.
        Timeout => "items were still unfinished at the deadline",
    }
}

/// How a ring operation failed, before a handle shapes it into the error of its method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// Full (put) or empty (get), for the non-blocking forms.
    Nothing,
    /// The deadline passed.
    Timeout,
    /// Closed, or the other side is gone.
    Disconnected,
    /// The object has no free participant slot for this process.
    NoSlot,
}

impl Fail {
    pub(crate) fn try_put<T>(self, v: T) -> TryPutError<T> {
        match self {
            Fail::Nothing | Fail::Timeout => TryPutError::Full(v),
            Fail::Disconnected => TryPutError::Disconnected(v),
            Fail::NoSlot => TryPutError::NoSlot(v),
        }
    }

    pub(crate) fn put<T>(self, v: T) -> PutError<T> {
        match self {
            Fail::NoSlot => PutError::NoSlot(v),
            _ => PutError::Disconnected(v),
        }
    }

    pub(crate) fn put_timeout<T>(self, v: T) -> PutTimeoutError<T> {
        match self {
            Fail::Nothing | Fail::Timeout => PutTimeoutError::Timeout(v),
            Fail::Disconnected => PutTimeoutError::Disconnected(v),
            Fail::NoSlot => PutTimeoutError::NoSlot(v),
        }
    }

    pub(crate) fn try_get(self) -> TryGetError {
        match self {
            Fail::Nothing | Fail::Timeout => TryGetError::Empty,
            Fail::Disconnected => TryGetError::Disconnected,
            Fail::NoSlot => TryGetError::NoSlot,
        }
    }

    pub(crate) fn get(self) -> GetError {
        match self {
            Fail::NoSlot => GetError::NoSlot,
            _ => GetError::Disconnected,
        }
    }

    pub(crate) fn get_timeout(self) -> GetTimeoutError {
        match self {
            Fail::Nothing | Fail::Timeout => GetTimeoutError::Timeout,
            Fail::Disconnected => GetTimeoutError::Disconnected,
            Fail::NoSlot => GetTimeoutError::NoSlot,
        }
    }
}
