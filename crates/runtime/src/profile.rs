//! Per-dispatch GPU timing with timestamp queries: every dispatch is its own compute pass, so a
//! pair of timestamps around it gives that kernel's time. Enabled by `ContextOptions::profile`.

use std::collections::BTreeMap;

const QUERIES: u32 = 512; // pairs = QUERIES / 2 per submission

pub(crate) struct Profiler {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    period_ns: f64,
    device: wgpu::Device,
    names: Vec<&'static str>,
    /// Resolved (buffer, names) awaiting read-back.
    pending: Vec<(wgpu::Buffer, Vec<&'static str>)>,
}

impl Profiler {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let set = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("vitfuse.timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: QUERIES,
        });
        let resolve = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vitfuse.timestamps.resolve"),
            size: QUERIES as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Profiler { set, resolve, period_ns: queue.get_timestamp_period() as f64, device: device.clone(), names: Vec::new(), pending: Vec::new() }
    }

    /// Reserves a pair of queries for the next dispatch.
    pub(crate) fn begin(&mut self, name: &'static str) -> Option<(wgpu::QuerySet, u32)> {
        if self.full() {
            return None;
        }
        let i = self.names.len() as u32 * 2;
        self.names.push(name);
        Some((self.set.clone(), i))
    }

    pub(crate) fn full(&self) -> bool {
        self.names.len() as u32 * 2 >= QUERIES
    }

    /// Resolves this submission's queries into a fresh read-back buffer.
    pub(crate) fn resolve(&mut self, encoder: &mut wgpu::CommandEncoder) {
        if self.names.is_empty() {
            return;
        }
        let n = self.names.len() as u32 * 2;
        encoder.resolve_query_set(&self.set, 0..n, &self.resolve, 0);
        let rb = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vitfuse.timestamps.readback"),
            size: n as u64 * 8,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &rb, 0, n as u64 * 8);
        self.pending.push((rb, std::mem::take(&mut self.names)));
    }

    /// Reads every resolved submission and sums time per kernel name.
    pub(crate) fn take(&mut self, device: &wgpu::Device) -> crate::Result<Vec<(String, u64, f64)>> {
        let mut acc: BTreeMap<&'static str, (u64, f64)> = BTreeMap::new();
        for (buf, names) in std::mem::take(&mut self.pending) {
            let slice = buf.slice(..);
            slice.map_async(wgpu::MapMode::Read, |_| {});
            device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| crate::Error::ReadBack(e.to_string()))?;
            {
                let view = slice.get_mapped_range().map_err(|e| crate::Error::ReadBack(e.to_string()))?;
                let ts: &[u64] = bytemuck::cast_slice(&view);
                for (i, n) in names.iter().enumerate() {
                    let d = ts[2 * i + 1].saturating_sub(ts[2 * i]) as f64 * self.period_ns / 1e6;
                    let e = acc.entry(n).or_default();
                    e.0 += 1;
                    e.1 += d;
                }
            }
            buf.unmap();
        }
        let mut v: Vec<(String, u64, f64)> = acc.into_iter().map(|(n, (c, ms))| (n.to_string(), c, ms)).collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        Ok(v)
    }
}

