//! The GPU (or software) adapter that models run on.

use std::sync::{Arc, Mutex};

use vitfuse_runtime::{Context, ContextOptions};

use crate::Result;

/// An opened adapter and device, shared by every model opened on it (cloning is cheap: it is an
/// [`Arc`]). Models keep their device alive; several threads may use one device at once (work
/// is recorded into one command stream under a lock and submitted at each read-back).
#[derive(Clone)]
pub struct Device {
    ctx: Arc<Context>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("adapter", &self.ctx.adapter_name()).finish()
    }
}

static SHARED: Mutex<Option<Device>> = Mutex::new(None);

impl Device {
    /// The process-wide device on the default adapter (`VITFUSE_ADAPTER` if set, else the
    /// high-performance adapter, else any, Mesa's software Vulkan included), opened on the first
    /// call and shared afterwards. A failure is returned and not remembered.
    pub fn shared() -> Result<Device> {
        let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = g.as_ref() {
            return Ok(d.clone());
        }
        let d = Device::new(&ContextOptions::default())?;
        *g = Some(d.clone());
        Ok(d)
    }

    /// Opens a new device as `opts` says (adapter by name, backend or index; profiling; kernel
    /// choices).
    pub fn new(opts: &ContextOptions) -> Result<Device> {
        Ok(Device { ctx: Arc::new(Context::new(opts)?) })
    }

    /// Wraps a context opened elsewhere.
    pub fn from_context(ctx: Context) -> Device {
        Device { ctx: Arc::new(ctx) }
    }

    /// The runtime context, for recording GPU work of one's own ([`crate::runtime::ops`]).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub fn adapter_name(&self) -> &str {
        self.ctx.adapter_name()
    }
}
