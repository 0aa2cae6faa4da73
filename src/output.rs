//! What tasks return: embeddings as a type, similarity matrices and ranked labels.

use crate::{Error, Result};

/// `n` embeddings of `dim` floats each, row-major. Dual encoders (CLIP, SigLIP) return them
/// L2-normalised ([`Embeddings::is_normalized`]); encoders of other families return raw
/// features, which [`Embeddings::normalized`] turns into unit rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    data: Vec<f32>,
    dim: usize,
    normalized: bool,
}

impl Embeddings {
    /// Wraps `data` (`n · dim` values). `normalized` records whether the rows have unit length.
    pub fn new(dim: usize, data: Vec<f32>, normalized: bool) -> Result<Self> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(Error::InvalidInput(format!("{} values do not make rows of {dim}", data.len())));
        }
        Ok(Embeddings { data, dim, normalized })
    }

    /// No rows, of width `dim`.
    pub fn empty(dim: usize, normalized: bool) -> Self {
        Embeddings { data: Vec::new(), dim: dim.max(1), normalized }
    }

    /// Number of embeddings.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Width of one embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether every row has unit L2 norm (as the model computed it).
    pub fn is_normalized(&self) -> bool {
        self.normalized
    }

    /// Row `i`. Panics when `i >= len()`, like slice indexing; [`Embeddings::get`] does not.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Row `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        (i < self.len()).then(|| self.row(i))
    }

    /// The rows in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim)
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// All values, row-major, without copying.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// One `Vec` per row.
    pub fn to_vecs(&self) -> Vec<Vec<f32>> {
        self.iter().map(<[f32]>::to_vec).collect()
    }

    /// Appends the rows of `other` (same width).
    pub fn extend(&mut self, other: &Embeddings) -> Result<()> {
        if other.dim != self.dim {
            return Err(Error::InvalidInput(format!("cannot append rows of {} to rows of {}", other.dim, self.dim)));
        }
        if self.is_empty() {
            self.normalized = other.normalized;
        } else {
            self.normalized &= other.normalized;
        }
        self.data.extend_from_slice(&other.data);
        Ok(())
    }

    /// The same rows scaled to unit L2 norm (a zero row stays zero).
    pub fn normalized(mut self) -> Self {
        if !self.normalized {
            for r in self.data.chunks_exact_mut(self.dim) {
                let n = r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
                if n > 0.0 {
                    r.iter_mut().for_each(|v| *v = (*v as f64 / n) as f32);
                }
            }
            self.normalized = true;
        }
        self
    }

    /// Cosine similarity of every row of `self` with every row of `other`: an
    /// `len() × other.len()` matrix in [-1, 1]. Rows that are not unit length are normalised
    /// for the comparison; for normalised embeddings this is the dot product. Fails when the
    /// widths differ.
    pub fn similarity(&self, other: &Embeddings) -> Result<Scores> {
        let a = if self.normalized { std::borrow::Cow::Borrowed(self) } else { std::borrow::Cow::Owned(self.clone().normalized()) };
        let b = if other.normalized { std::borrow::Cow::Borrowed(other) } else { std::borrow::Cow::Owned(other.clone().normalized()) };
        a.dot(&b)
    }

    /// Dot product of every row of `self` with every row of `other` (no normalisation).
    pub fn dot(&self, other: &Embeddings) -> Result<Scores> {
        if other.dim != self.dim {
            return Err(Error::InvalidInput(format!("cannot compare embeddings of width {} with width {}", self.dim, other.dim)));
        }
        let mut data = Vec::with_capacity(self.len() * other.len());
        for a in self.iter() {
            for b in other.iter() {
                data.push(a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() as f32);
            }
        }
        Ok(Scores { rows: self.len(), cols: other.len(), data })
    }
}

impl std::ops::Index<usize> for Embeddings {
    type Output = [f32];
    fn index(&self, i: usize) -> &[f32] {
        self.row(i)
    }
}

impl<'a> IntoIterator for &'a Embeddings {
    type Item = &'a [f32];
    type IntoIter = std::slice::ChunksExact<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A `rows × cols` matrix of scores (similarities or logits), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Scores {
    /// Wraps `data` (`rows · cols` values).
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::InvalidInput(format!("{} values do not make a {rows}x{cols} matrix", data.len())));
        }
        Ok(Scores { rows, cols, data })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The score at (`i`, `j`), or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        (i < self.rows && j < self.cols).then(|| self.data[i * self.cols + j])
    }

    /// Row `i`. Panics when `i >= rows()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.cols.max(1))
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The `k` best columns of row `i` as (column, score), best first (ties by column).
    pub fn top_k(&self, i: usize, k: usize) -> Vec<(usize, f32)> {
        let mut v: Vec<(usize, f32)> = self.row(i).iter().copied().enumerate().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(k);
        v
    }

    /// The matrix with rows and columns swapped.
    pub fn transposed(&self) -> Scores {
        let mut data = Vec::with_capacity(self.data.len());
        for j in 0..self.cols {
            for i in 0..self.rows {
                data.push(self.data[i * self.cols + j]);
            }
        }
        Scores { rows: self.cols, cols: self.rows, data }
    }
}

/// One label with its probability and the model's raw logit.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelScore {
    /// The label (a class name, a zero-shot label or a text).
    pub label: String,
    /// Probability: a softmax over the labels (classifier heads, CLIP, ViLT over its texts), or
    /// SigLIP's independent sigmoid.
    pub score: f32,
    /// The model's logit.
    pub logit: f32,
}

/// Labels ranked by softmax probability, best first.
pub(crate) fn softmax_ranked(logits: &[f32], labels: &[String]) -> Vec<LabelScore> {
    let mx = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = logits.iter().map(|v| (v - mx).exp()).sum();
    rank(logits.iter().zip(labels).map(|(&l, name)| LabelScore { label: name.clone(), score: (l - mx).exp() / z, logit: l }))
}

/// Labels ranked by independent sigmoid probability, best first.
pub(crate) fn sigmoid_ranked(logits: &[f32], labels: &[String]) -> Vec<LabelScore> {
    rank(logits.iter().zip(labels).map(|(&l, name)| LabelScore { label: name.clone(), score: 1.0 / (1.0 + (-l).exp()), logit: l }))
}

fn rank(it: impl Iterator<Item = LabelScore>) -> Vec<LabelScore> {
    let mut v: Vec<LabelScore> = it.collect();
    v.sort_by(|a, b| b.score.total_cmp(&a.score));
    v
}

/// How far a batched call has come: `done` of `total` inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Inputs finished so far.
    pub done: usize,
    /// Inputs in the call.
    pub total: usize,
}
