//! A task on its way to a worker, and the sink its results go to: the frames of
//! `worker.rs` from the pool's side.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::TaskError;
use crate::spawn::Call;
use crate::worker::{DONE, FAILED, RUN};

/// Receives the results of a task's items.
pub(crate) trait Sink: Send + Sync {
    /// The results of items `first..first + len` of the submission: the worker's reply
    /// (see [`decode_results`]), or the error they all failed with.
    fn deliver(&self, first: usize, len: usize, reply: Result<&[u8], TaskError>);
}

/// A chunk of items on its way to a worker.
pub(crate) struct Task {
    /// `RUN`, the call, the encoded arguments.
    pub frame: Vec<u8>,
    pub first: usize,
    pub len: usize,
    pub sink: Arc<dyn Sink>,
}

impl Task {
    /// Fails every item of the task with `e`.
    pub(crate) fn fail(&self, e: &TaskError) {
        self.sink.deliver(self.first, self.len, Err(e.clone()));
    }
}

/// A task's frame: `RUN`, the call, then `chunk` encoded as a `Vec`.
pub(crate) fn task_frame<T: Serialize>(call: Call, chunk: &[T]) -> Result<Vec<u8>, TaskError> {
    let mut frame = Vec::with_capacity(64);
    frame.push(RUN);
    frame.extend_from_slice(&call.to_bytes());
    let frame = postcard::to_extend(chunk, frame).map_err(|e| TaskError::Codec(e.to_string()))?;
    if frame.len() > shmkit_pipe::DEFAULT_MAX_MESSAGE {
        return Err(TaskError::Codec(format!(
            "a chunk of {} bytes is larger than a pipe message may be (1 GiB): use a smaller chunksize",
            frame.len()
        )));
    }
    Ok(frame)
}

/// The `len` results in a worker's reply: `DONE` and an encoded `Vec<Result<R, String>>`
/// (the `String` a panic's message), or `FAILED` and why the whole chunk failed.
pub(crate) fn decode_results<R: DeserializeOwned>(
    len: usize,
    reply: Result<&[u8], TaskError>,
) -> Vec<Result<R, TaskError>> {
    let all = |e: TaskError| (0..len).map(|_| Err(e.clone())).collect();
    let codec = |why: String| all(TaskError::Codec(why));
    match reply {
        Err(e) => all(e),
        Ok([DONE, results @ ..]) => match postcard::from_bytes::<Vec<Result<R, String>>>(results) {
            Ok(v) if v.len() == len => v.into_iter().map(|r| r.map_err(TaskError::Panicked)).collect(),
            Ok(v) => codec(format!("the worker gave {} results for {len} items", v.len())),
            Err(e) => codec(format!("the task's results do not decode: {e}")),
        },
        Ok([FAILED, why @ ..]) => codec(String::from_utf8_lossy(why).into_owned()),
        Ok(_) => codec("the worker's reply is garbled".into()),
    }
}
