//! Typed kernel choices: which kernel runs an op where it would otherwise choose per adapter
//! ([`KernelChoices`], given to [`crate::Context::new`] through [`crate::ContextOptions`]).
//!
//! Each op's kernels are an enum with `NAMES`, `name()` and `from_name` / [`std::str::FromStr`]
//! (case-insensitive; an unknown name is an [`Error::UnknownKernel`] listing the valid ones), so
//! a command line derives its names from here. [`KernelVariant::needs`] says what a kernel needs
//! from the adapter; [`crate::Context::new`] refuses an explicit choice the adapter cannot run
//! ([`Error::KernelUnsupported`]) and the ops check the same needs before they dispatch.

use crate::error::{Error, Result};
use crate::ops::MatmulKernel;

/// What a kernel needs from the adapter beyond WebGPU's default limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelNeeds {
    /// `Features::SUBGROUP` with subgroups of at least this many lanes (the adapter's
    /// `subgroup_min_size`), for kernels whose shuffles assume a workgroup row is one subgroup.
    pub subgroups_of: Option<u32>,
    /// Bytes of workgroup memory (`max_compute_workgroup_storage_size`); 0 for at most WebGPU's
    /// guaranteed 16 KiB.
    pub workgroup_storage: u32,
    /// A cooperative-matrix configuration of [`crate::coop`] that the adapter reports: the
    /// device then has `EXPERIMENTAL_COOPERATIVE_MATRIX` (requested only in that case).
    pub cooperative_matrix: bool,
}

impl KernelNeeds {
    /// Why an adapter with `features`, a smallest subgroup of `subgroup_min_size` lanes and
    /// `limits` cannot meet these needs, or `None` when it can.
    pub(crate) fn unmet(self, features: wgpu::Features, subgroup_min_size: u32, limits: &wgpu::Limits) -> Option<String> {
        if let Some(n) = self.subgroups_of {
            if !features.contains(wgpu::Features::SUBGROUP) {
                return Some(format!("needs subgroups of at least {n} lanes; the device has no SUBGROUP feature"));
            }
            if subgroup_min_size < n {
                return Some(format!("needs subgroups of at least {n} lanes; the adapter's may have {subgroup_min_size}"));
            }
        }
        if self.cooperative_matrix && !features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            return Some(
                "needs tensor cores through cooperative matrices (16x16x16 or 8x8x8 f16 -> f32, subgroups of 32), which the adapter does not report"
                    .into(),
            );
        }
        let have = limits.max_compute_workgroup_storage_size;
        if self.workgroup_storage > have {
            return Some(format!("needs {} bytes of workgroup memory; the adapter has {have}", self.workgroup_storage));
        }
        None
    }
}

/// The kernels of one op, named for command lines and checked against the adapter.
pub trait KernelVariant: Copy + std::fmt::Debug {
    /// The op these kernels run (`matmul`, `attention`, `patch`).
    const OP: &'static str;
    /// The lower-case name of this kernel, as `from_name` takes it.
    fn name(self) -> &'static str;
    /// What this kernel needs from the adapter.
    fn needs(self) -> KernelNeeds;
}

/// Implements `ALL`, `NAMES`, `name`, `from_name`, `FromStr`, `Display` and [`KernelVariant`]
/// for a kernel enum whose inherent `fn needs(self) -> KernelNeeds` is written by hand.
macro_rules! kernel_names {
    ($ty:ident, $op:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every kernel, in the order of `NAMES`.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            /// The names `from_name` takes, in the order of `ALL`.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The lower-case name of this kernel (one of `NAMES`).
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The kernel called `name` (case-insensitive); an unknown name is an
            /// [`crate::Error::UnknownKernel`] that lists `NAMES`.
            pub fn from_name(name: &str) -> crate::Result<Self> {
                let lower = name.to_lowercase();
                Self::NAMES
                    .iter()
                    .position(|n| *n == lower)
                    .map(|i| Self::ALL[i])
                    .ok_or_else(|| crate::Error::UnknownKernel { op: $op, name: name.to_string(), valid: Self::NAMES })
            }
        }

        impl std::str::FromStr for $ty {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                Self::from_name(s)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl crate::choice::KernelVariant for $ty {
            const OP: &'static str = $op;
            fn name(self) -> &'static str {
                $ty::name(self)
            }
            fn needs(self) -> crate::choice::KernelNeeds {
                $ty::needs(self)
            }
        }
    };
}
pub(crate) use kernel_names;

/// The fused attention kernels of `vitfuse_attention` and its composed path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttentionKernel {
    /// `flash_attention`: one query per invocation, K/V tiles in workgroup memory; any adapter.
    Flash,
    /// `flash_attention_tiled` with subgroup-shuffle row reductions (subgroups of at least 16,
    /// 32 KiB of workgroup memory); head size <= 64.
    Tiled,
    /// `flash_attention_tiled_wg`: the tiled kernel with workgroup-memory row reductions (32 KiB
    /// of workgroup memory); head size <= 64.
    TiledWg,
    /// `flash_attention_sg`: 8-lane workgroups sharing keys by shuffles (subgroups of at least 8).
    Subgroup,
    /// `flash_attention_sg` reading q, k and v from texture copies (the choice on Vulkan
    /// software adapters; head sizes, head offsets and row widths must be multiples of 4).
    SubgroupTex,
    /// split_heads → matmul → softmax → matmul → merge_heads; any adapter.
    Composed,
}

/// Workgroup memory of `flash_attention_tiled`: Q (4096), K/P (2048) and V (2048) f32 tiles.
const TILED_ATTENTION_STORAGE: u32 = 32_768;

impl AttentionKernel {
    /// What this kernel needs from the adapter.
    pub fn needs(self) -> KernelNeeds {
        match self {
            AttentionKernel::Tiled => KernelNeeds { subgroups_of: Some(16), workgroup_storage: TILED_ATTENTION_STORAGE, ..KernelNeeds::default() },
            AttentionKernel::TiledWg => KernelNeeds { workgroup_storage: TILED_ATTENTION_STORAGE, ..KernelNeeds::default() },
            AttentionKernel::Subgroup | AttentionKernel::SubgroupTex => KernelNeeds { subgroups_of: Some(8), ..KernelNeeds::default() },
            AttentionKernel::Flash | AttentionKernel::Composed => KernelNeeds::default(),
        }
    }
}

kernel_names!(AttentionKernel, "attention", [
    Flash => "flash",
    Tiled => "tiled",
    TiledWg => "tiled-wg",
    Subgroup => "subgroup",
    SubgroupTex => "subgroup-tex",
    Composed => "composed",
]);

/// The patch-embedding paths of `vitfuse_patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchKernel {
    /// One implicit-im2col GEMM dispatch with bias, prefix tokens and positions fused (shares rows
    /// by subgroups where the adapter has them, else through workgroup memory); any adapter.
    Fused,
    /// im2col → matmul → token assembly; any adapter.
    Composed,
}

impl PatchKernel {
    /// What this kernel needs from the adapter (nothing beyond WebGPU's defaults).
    pub fn needs(self) -> KernelNeeds {
        KernelNeeds::default()
    }
}

kernel_names!(PatchKernel, "patch", [Fused => "fused", Composed => "composed"]);

/// Kernels to run where an op would choose per adapter (benchmarks and tuning). The default
/// leaves every choice to the ops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelChoices {
    /// The matmul kernel for matmuls that would pick one per adapter (`Auto`/`Tiled`); `Auto`
    /// (the default) and `Tiled` leave the choice to [`MatmulKernel::resolve`].
    pub matmul: MatmulKernel,
    /// The attention kernel `vitfuse_attention::attention` runs; `None` chooses per adapter.
    pub attention: Option<AttentionKernel>,
    /// The patch-embedding path `vitfuse_patch::patch_embed` runs; `None` is the fused kernel.
    pub patch: Option<PatchKernel>,
}

impl KernelChoices {
    /// Fails with [`Error::KernelUnsupported`] for the first explicit choice that `adapter`
    /// (with `features`, a smallest subgroup of `subgroup_min_size` lanes and `limits`) cannot run.
    pub(crate) fn validate(&self, adapter: &str, features: wgpu::Features, subgroup_min_size: u32, limits: &wgpu::Limits) -> Result<()> {
        require(self.matmul, adapter, features, subgroup_min_size, limits)?;
        if let Some(a) = self.attention {
            require(a, adapter, features, subgroup_min_size, limits)?;
        }
        if let Some(p) = self.patch {
            require(p, adapter, features, subgroup_min_size, limits)?;
        }
        Ok(())
    }
}

/// Fails with [`Error::KernelUnsupported`] when `adapter` (with `features`, a smallest subgroup
/// of `subgroup_min_size` lanes and `limits`) cannot meet `k`'s needs.
pub(crate) fn require<K: KernelVariant>(k: K, adapter: &str, features: wgpu::Features, subgroup_min_size: u32, limits: &wgpu::Limits) -> Result<()> {
    match k.needs().unmet(features, subgroup_min_size, limits) {
        Some(reason) => Err(Error::KernelUnsupported { op: K::OP, kernel: k.name(), adapter: adapter.to_string(), reason }),
        None => Ok(()),
    }
}
