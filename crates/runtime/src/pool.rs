//! Buffer pool: intermediate storage buffers are recycled by size class, across ops and across
//! forward passes. A buffer returns to the pool when the last [`crate::Tensor`] using it drops;
//! GPU work already recorded against it stays ordered because the queue executes in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Counters of the pool, for tests and `vitfuse info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers created on the device.
    pub allocations: u64,
    /// Requests served from the free lists.
    pub reuses: u64,
    /// Bytes of every buffer ever created.
    pub bytes_allocated: u64,
    /// Bytes currently held in free lists.
    pub bytes_free: u64,
    /// Bytes of the buffers that exist now (created and not trimmed), free or in use.
    pub bytes_live: u64,
    /// Bytes of the textures that hold tensors' texture copies now (the texture operands of the
    /// subgroup matmul on software adapters; weights keep theirs while they live).
    pub texture_bytes_in_use: u64,
}

impl PoolStats {
    /// Bytes of device buffers held by tensors now (size classes included).
    pub fn bytes_in_use(&self) -> u64 {
        self.bytes_live - self.bytes_free
    }
}

pub(crate) struct Pool {
    free: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    stats: Mutex<PoolStats>,
}

/// Rounds a request up to its size class: at least 256 bytes, then eight classes per power of two
/// (at most 12.5 % waste), so that passes with the same shapes hit the same classes.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let pow = 63 - b.leading_zeros() as u64; // floor(log2 b)
    if pow < 3 {
        return b;
    }
    let step = 1u64 << (pow - 3);
    b.div_ceil(step) * step
}

impl Pool {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Pool { free: Mutex::new(HashMap::new()), stats: Mutex::new(PoolStats::default()) })
    }

    pub(crate) fn stats(&self) -> PoolStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of at least `bytes` bytes, usage STORAGE | COPY_SRC | COPY_DST.
    pub(crate) fn take(self: &Arc<Self>, device: &wgpu::Device, bytes: u64) -> PooledBuffer {
        let class = size_class(bytes);
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&class).and_then(|v| v.pop());
        let mut st = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let buf = match reused {
            Some(b) => {
                st.reuses += 1;
                st.bytes_free -= class;
                b
            }
            None => {
                st.allocations += 1;
                st.bytes_allocated += class;
                st.bytes_live += class;
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("vitfuse.pool"),
                    size: class,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }
        };
        PooledBuffer { buf, class, pool: Arc::downgrade(self), mirror: Mutex::new(None) }
    }

    /// Drops every free buffer (device memory goes back to the driver).
    pub(crate) fn trim(&self) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let mut st = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        st.bytes_live -= st.bytes_free;
        st.bytes_free = 0;
    }
}

/// A storage buffer on loan from the pool.
pub(crate) struct PooledBuffer {
    buf: wgpu::Buffer,
    class: u64,
    pool: Weak<Pool>,
    /// A texture copy of the contents, made on first use and dropped with the buffer (tensors
    /// are written once, when they are made, so it never goes stale).
    mirror: Mutex<Option<Mirror>>,
}

impl PooledBuffer {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buf
    }

    pub(crate) fn mirror(&self) -> &Mutex<Option<Mirror>> {
        &self.mirror
    }
}

/// (width, height, format) of a texture copy.
pub(crate) type TextureKey = (u32, u32, wgpu::TextureFormat);

/// A tensor's contents as a texture (see `Context::texture_of`).
pub(crate) struct Mirror {
    pub(crate) key: TextureKey,
    pub(crate) view: wgpu::TextureView,
    // Returns the texture to the pool when the mirror drops (after `view`).
    _tex: PooledTexture,
}

impl Mirror {
    pub(crate) fn new(tex: PooledTexture) -> Mirror {
        let view = tex.tex.create_view(&wgpu::TextureViewDescriptor::default());
        Mirror { key: tex.key, view, _tex: tex }
    }

    pub(crate) fn texture(&self) -> &wgpu::Texture {
        &self._tex.tex
    }
}

/// Textures for tensors' texture copies, recycled by exact size and format (activations of one
/// shape come back every pass).
pub(crate) struct TexturePool {
    free: Mutex<HashMap<TextureKey, Vec<wgpu::Texture>>>,
    // The buffer pool, whose stats count the textures too.
    buffers: Arc<Pool>,
}

/// Bytes of a texture of `key`.
fn texture_bytes((w, h, format): TextureKey) -> u64 {
    let texel = if format == wgpu::TextureFormat::Rgba16Float { 8 } else { 16 };
    w as u64 * h as u64 * texel
}

impl TexturePool {
    /// Counts its textures in `pool`'s stats.
    pub(crate) fn new(pool: &Arc<Pool>) -> Arc<Self> {
        Arc::new(TexturePool { free: Mutex::new(HashMap::new()), buffers: pool.clone() })
    }

    /// A texture of `key`, usable as a storage texture (written by `to_texture` or a
    /// buffer-to-texture copy, read by the matmul and attention kernels).
    pub(crate) fn take(self: &Arc<Self>, device: &wgpu::Device, key: TextureKey) -> PooledTexture {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&key).and_then(|v| v.pop());
        let tex = reused.unwrap_or_else(|| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some("vitfuse.mirror"),
                size: wgpu::Extent3d { width: key.0, height: key.1, depth_or_array_layers: 1 },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: key.2,
                usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        });
        self.buffers.stats.lock().unwrap_or_else(|e| e.into_inner()).texture_bytes_in_use += texture_bytes(key);
        PooledTexture { tex, key, pool: Arc::downgrade(self) }
    }

    /// Drops every free texture.
    pub(crate) fn trim(&self) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A texture on loan from the texture pool.
pub(crate) struct PooledTexture {
    tex: wgpu::Texture,
    key: TextureKey,
    pool: Weak<TexturePool>,
}

impl Drop for PooledTexture {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            let mut st = pool.buffers.stats.lock().unwrap_or_else(|e| e.into_inner());
            st.texture_bytes_in_use -= texture_bytes(self.key);
            drop(st);
            pool.free.lock().unwrap_or_else(|e| e.into_inner()).entry(self.key).or_default().push(self.tex.clone());
        }
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.stats.lock().unwrap_or_else(|e| e.into_inner()).bytes_free += self.class;
            pool.free.lock().unwrap_or_else(|e| e.into_inner()).entry(self.class).or_default().push(self.buf.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_bound_waste() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(256), 256);
        assert_eq!(size_class(257), 288);
        for b in [1000u64, 4097, 605_184, 1 << 20, 3 * (1 << 20) + 7] {
            let c = size_class(b);
            assert!(c >= b && (c - b) * 8 <= c, "{b} -> {c}");
            assert_eq!(size_class(c), c);
        }
    }
}
