//! A value built on first use by a fallible function, at most once even when several threads
//! ask at the same time (`OnceLock::get_or_try_init` is not stable yet).

use std::sync::{Mutex, OnceLock};

/// A value built on first use. A failed build is returned and retried on the next call.
pub struct Lazy<T> {
    cell: OnceLock<T>,
    init: Mutex<()>,
}

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Lazy { cell: OnceLock::new(), init: Mutex::new(()) }
    }
}

impl<T> Lazy<T> {
    /// An empty cell.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value, built by `f` if this is the first successful call.
    pub fn get_or_try_init<E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<&T, E> {
        if let Some(v) = self.cell.get() {
            return Ok(v);
        }
        let _guard = self.init.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = self.cell.get() {
            return Ok(v);
        }
        let v = f()?;
        Ok(self.cell.get_or_init(|| v))
    }

    /// The value if it has been built.
    pub fn get(&self) -> Option<&T> {
        self.cell.get()
    }
}
