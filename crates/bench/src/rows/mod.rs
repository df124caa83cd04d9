//! The rows, one module per family, in the order the table prints them. A row names the
//! rows it is compared with; those are measured in the same run.

mod connection;
mod dict;
mod floor;
mod mq;
mod pipe;
mod process;
mod queue;
mod sweep;
mod sync;
mod value;
#[cfg(feature = "zenoh")]
mod zenoh;

use crate::harness::Bench;

/// Runs every row the filter selects.
pub(crate) fn all(b: &mut Bench) {
    floor::rows(b);
    sync::rows(b);
    value::rows(b);
    queue::rows(b);
    mq::rows(b);
    dict::rows(b);
    pipe::rows(b);
    connection::rows(b);
    sweep::rows(b);
    process::rows(b);
    #[cfg(feature = "zenoh")]
    zenoh::rows(b);
}
