//! Copies of device buffers to the host: blocking ([`Context::read`]) and as a future
//! ([`Context::read_async`]).
//!
//! Both record a copy into a staging buffer, submit the pending work and map the staging buffer.
//! wgpu calls a mapping's callback only while someone polls the device (natively; the browser
//! calls it on wasm32). The blocking read polls and waits on the calling thread. The future polls
//! without blocking whenever it is polled, and natively a helper thread blocks in
//! `device.poll(wait_indefinitely())` until the copy is done, so that the callback fires (and
//! wakes the future) without the caller's thread ever waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use crate::context::{lock, take_gpu_error, Context};
use crate::error::{Error, Result};

impl Context {
    /// Creates a staging buffer for `bytes` bytes, records the copy of `src` into it and submits
    /// everything recorded so far.
    fn stage(&self, src: &wgpu::Buffer, bytes: u64) -> wgpu::Buffer {
        let size = bytes.div_ceil(4) * 4;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vitfuse.readback"),
            size: size.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if size > 0 {
            self.record_copy(src, &staging, size);
        }
        self.flush();
        staging
    }

    /// Copies `bytes` bytes of `src` to the host. Submits pending work and waits.
    pub(crate) fn read(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let staging = self.stage(src, bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::ReadBack(e.to_string()))?;
        self.take_gpu_error()?;
        rx.recv()
            .map_err(|e| Error::ReadBack(e.to_string()))?
            .map_err(|e| Error::ReadBack(e.to_string()))?;
        self.autosave_pipeline_cache();
        mapped_bytes(&staging, bytes)
    }

    /// [`Context::read`] as a future: the copy is recorded and submitted now; the future
    /// resolves once the staging buffer is mapped, without blocking the thread that polls it.
    /// Errors are those of the blocking read.
    pub(crate) fn read_async(&self, src: &wgpu::Buffer, bytes: u64) -> ReadBack {
        let staging = self.stage(src, bytes);
        let slot: Arc<Mutex<Slot>> = Arc::default();
        let on_map = slot.clone();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| Slot::finish(&on_map, Outcome::Mapped(r)));
        #[cfg(not(target_arch = "wasm32"))]
        {
            let (device, on_poll) = (self.device.clone(), slot.clone());
            let spawned = std::thread::Builder::new().name("vitfuse-readback".into()).spawn(move || {
                // Returns once the copy's submission is done and its callbacks have run (here or
                // in a concurrent poll of another thread).
                if let Err(e) = device.poll(wgpu::PollType::wait_indefinitely()) {
                    Slot::finish(&on_poll, Outcome::PollFailed(e.to_string()));
                }
            });
            if let Err(e) = spawned {
                Slot::finish(&slot, Outcome::PollFailed(format!("could not start the read-back thread: {e}")));
            }
        }
        ReadBack { slot, staging, bytes, device: self.device.clone(), gpu_error: self.gpu_error.clone() }
    }
}

/// The bytes of a mapped staging buffer, which is unmapped afterwards.
fn mapped_bytes(staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
    let out = {
        let view = staging.slice(..).get_mapped_range().map_err(|e| Error::ReadBack(e.to_string()))?;
        view[..bytes as usize].to_vec()
    };
    staging.unmap();
    Ok(out)
}

/// How a pending read-back ended.
enum Outcome {
    /// The mapping callback ran with this result.
    Mapped(Result<(), wgpu::BufferAsyncError>),
    /// Polling the device failed before the mapping completed (native only: on wasm32 the
    /// browser maps and nothing here polls).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    PollFailed(String),
}

/// A hand-written oneshot: the first outcome, and the waker of the future waiting for it.
#[derive(Default)]
struct Slot {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

impl Slot {
    /// Records `outcome` unless one came first, and wakes the waiting future.
    fn finish(slot: &Mutex<Slot>, outcome: Outcome) {
        let waker = {
            let mut s = lock(slot);
            if s.outcome.is_some() {
                return;
            }
            s.outcome = Some(outcome);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The future of [`Context::read_async`]: resolves to the bytes read back.
pub(crate) struct ReadBack {
    slot: Arc<Mutex<Slot>>,
    staging: wgpu::Buffer,
    bytes: u64,
    device: wgpu::Device,
    gpu_error: Arc<Mutex<Option<String>>>,
}

impl Future for ReadBack {
    type Output = Result<Vec<u8>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // Runs callbacks that are ready, without waiting (a no-op on wasm32).
        let _ = self.device.poll(wgpu::PollType::Poll);
        let outcome = {
            let mut s = lock(&self.slot);
            match s.outcome.take() {
                Some(o) => o,
                None => {
                    s.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        };
        // The same checks, in the same order, as the blocking read.
        Poll::Ready(match outcome {
            Outcome::PollFailed(m) => Err(Error::ReadBack(m)),
            Outcome::Mapped(r) => take_gpu_error(&self.gpu_error)
                .and_then(|()| r.map_err(|e| Error::ReadBack(e.to_string())))
                .and_then(|()| mapped_bytes(&self.staging, self.bytes)),
        })
    }
}
