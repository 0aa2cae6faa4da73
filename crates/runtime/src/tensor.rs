//! Tensors: a pooled storage buffer with a shape and a dtype. Clones and reshapes share the
//! buffer; the buffer returns to the pool when the last one drops.

use std::future::Future;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::pool::PooledBuffer;

/// Element type of a tensor. Kernels compute in f32; `F16` is storage: of weights (matmul and
/// embedding operands, widened to f32 as they are read, on any adapter) and of activations
/// (the io kernels: matmul, LayerNorm, softmax, head split/merge, SwiGLU, attention; on a device
/// with `SHADER_F16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float: what the kernels compute in.
    F32,
    /// 16-bit IEEE float (`half::f16`): weights, and activations where the device has `SHADER_F16`.
    F16,
    /// 32-bit unsigned integer: token ids, indices.
    U32,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 => 2,
        }
    }
}

/// Host element types that can be uploaded/downloaded.
pub trait Element: bytemuck::Pod {
    /// The tensor dtype this host type uploads to and reads back from.
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
}
impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
}

/// A GPU tensor: a row-major (C-contiguous) f32/f16/u32 storage buffer from the context's pool
/// with a shape. Cloning is cheap and shares the buffer.
#[derive(Clone)]
pub struct Tensor {
    buf: Arc<PooledBuffer>,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.shape, self.dtype)
    }
}

/// Element count of `shape` (1 for rank 0).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Tensor {
    /// An uninitialised tensor from the pool (ops write every element of their outputs).
    pub fn empty(ctx: &Context, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let bytes = (numel(shape) * dtype.size()) as u64;
        ctx.check_size(shape, bytes)?;
        let buf = ctx.pool.take(&ctx.device, bytes.div_ceil(4) * 4);
        Ok(Tensor { buf: Arc::new(buf), shape: shape.to_vec(), dtype })
    }

    /// Uploads host data. Fails when `data.len()` does not match `shape`.
    pub fn from_slice<T: Element>(ctx: &Context, shape: &[usize], data: &[T]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::HostLength { shape: shape.to_vec(), expected: numel(shape), got: data.len() });
        }
        let t = Tensor::empty(ctx, shape, T::DTYPE)?;
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.len().is_multiple_of(4) {
            ctx.write(t.buffer(), bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().div_ceil(4) * 4, 0);
            ctx.write(t.buffer(), &padded);
        }
        Ok(t)
    }

    /// A tensor filled with zeros.
    pub fn zeros(ctx: &Context, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = Tensor::empty(ctx, shape, dtype)?;
        let n = (t.byte_len().div_ceil(4) * 4) as usize;
        ctx.write(t.buffer(), &vec![0u8; n]);
        Ok(t)
    }

    /// Downloads to the host (submits recorded work and waits).
    pub fn to_vec<T: Element>(&self, ctx: &Context) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::DTypeMismatch { op: "to_vec", expected: self.dtype, got: T::DTYPE });
        }
        let bytes = ctx.read(self.buffer(), self.byte_len())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// [`Tensor::to_vec`] without blocking: recorded work and the copy are submitted now (so
    /// later dispatches cannot change what is read), and the future resolves once the copy has
    /// reached the host. It borrows nothing; natively a helper thread waits on the device, and
    /// on wasm32 the browser completes it. Errors are those of `to_vec`.
    pub fn to_vec_async<T: Element>(&self, ctx: &Context) -> impl Future<Output = Result<Vec<T>>> {
        let read = if T::DTYPE != self.dtype {
            Err(Error::DTypeMismatch { op: "to_vec_async", expected: self.dtype, got: T::DTYPE })
        } else {
            Ok(ctx.read_async(self.buffer(), self.byte_len()))
        };
        async move { Ok(bytemuck::pod_collect_to_vec(&read?.await?)) }
    }

    /// Dims, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Element count.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Number of dims.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Size of dim `i` counted from the end (`dim_back(0)` is the last).
    pub fn dim_back(&self, i: usize) -> usize {
        if i < self.shape.len() {
            self.shape[self.shape.len() - 1 - i]
        } else {
            1
        }
    }

    /// Bytes of data (element count × dtype size; the buffer itself may be larger).
    pub fn byte_len(&self) -> u64 {
        (self.numel() * self.dtype.size()) as u64
    }

    /// Same buffer, new shape (no copy). Element counts must agree.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::BadReshape { from: self.shape.clone(), to: shape.to_vec() });
        }
        Ok(Tensor { buf: self.buf.clone(), shape: shape.to_vec(), dtype: self.dtype })
    }

    /// True when both tensors view the same buffer.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.buf.buffer()
    }

    /// The buffer's texture copy, if one was made ([`Context::texture_of`]).
    pub(crate) fn mirror(&self) -> &std::sync::Mutex<Option<crate::pool::Mirror>> {
        self.buf.mirror()
    }

    /// The whole buffer as a bind-group resource (for [`Context::dispatch_bindings`]).
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        let size = (self.byte_len().div_ceil(4) * 4).max(4);
        wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: self.buffer(), offset: 0, size: wgpu::BufferSize::new(size) })
    }

    /// Fails unless the dtype is `want`.
    pub fn expect_dtype(&self, op: &'static str, want: DType) -> Result<()> {
        if self.dtype != want {
            return Err(Error::DTypeMismatch { op, expected: want, got: self.dtype });
        }
        Ok(())
    }

    /// Fails unless the shape is exactly `want`.
    pub fn expect_shape(&self, op: &'static str, want: &[usize]) -> Result<()> {
        if self.shape != want {
            return Err(Error::ShapeMismatch { op, expected: format!("{want:?}"), got: self.shape.clone() });
        }
        Ok(())
    }
}
