//! Writing an output file without destroying what its path points to.
//!
//! A regular file (or a path that does not exist yet) is replaced atomically: the bytes go to a
//! temporary file beside it, which is renamed over it, keeping the old file's permissions. A
//! symlink is followed and its *target* written that way; the link stays. Anything else (a FIFO,
//! a terminal, `/dev/null`, `/proc/self/fd/1`) is written through, never renamed over. Errors
//! name the path the caller gave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// Where the bytes for a path go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Replace this regular (or not yet existing) file atomically.
    Replace(PathBuf),
    /// Write into this existing non-regular file as it is.
    WriteThrough(PathBuf),
}

fn io_err(path: &Path, kind: std::io::ErrorKind, msg: &str) -> ModelError {
    ModelError::io(path, std::io::Error::new(kind, msg.to_string()))
}

/// Resolves `path`: follows symlinks (a dangling one to the file it names), refuses folders.
pub fn destination(path: &Path) -> Result<Destination> {
    if path.as_os_str().is_empty() {
        return Err(ModelError::InvalidInput("the output path is empty".into()));
    }
    let mut target = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Destination::Replace(target)),
            Err(e) => return Err(ModelError::io(path, e)),
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&target).map_err(|e| ModelError::io(path, e))?;
                target = match target.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(m) if m.is_dir() => {
                return Err(io_err(path, std::io::ErrorKind::InvalidInput, "is a folder, not a file"))
            }
            Ok(m) if m.is_file() => return Ok(Destination::Replace(target)),
            Ok(_) => return Ok(Destination::WriteThrough(target)),
        }
    }
    Err(io_err(path, std::io::ErrorKind::InvalidInput, "has too many levels of symbolic links"))
}

fn temp_beside(target: &Path, path: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io_err(path, std::io::ErrorKind::InvalidInput, "does not name a file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    Ok((dir.clone(), dir.join(tmp_name)))
}

/// Checks, before any work, that `path` can be written: its folder exists and takes a new file
/// (for a file to replace), or it opens for writing (for a device). FIFOs are not opened here
/// (that would wait for a reader).
pub fn check_writable(path: &Path) -> Result<()> {
    match destination(path)? {
        Destination::Replace(target) => {
            let (dir, tmp) = temp_beside(&target, path)?;
            if !dir.is_dir() {
                return Err(io_err(path, std::io::ErrorKind::NotFound, "is in a folder that does not exist"));
            }
            File::create(&tmp).map_err(|e| ModelError::io(path, e))?;
            let _ = std::fs::remove_file(&tmp);
            Ok(())
        }
        Destination::WriteThrough(target) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileTypeExt;
                if std::fs::metadata(&target).is_ok_and(|m| m.file_type().is_fifo()) {
                    return Ok(());
                }
            }
            OpenOptions::new().write(true).open(&target).map(drop).map_err(|e| ModelError::io(path, e))
        }
    }
}

/// Writes `bytes` to `path` as the module says.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    match destination(path)? {
        Destination::WriteThrough(target) => {
            let mut f = OpenOptions::new().write(true).open(&target).map_err(|e| ModelError::io(path, e))?;
            f.write_all(bytes).and_then(|_| f.flush()).map_err(|e| ModelError::io(path, e))
        }
        Destination::Replace(target) => {
            let (_, tmp) = temp_beside(&target, path)?;
            let old_perms = std::fs::metadata(&target).ok().map(|m| m.permissions());
            let written = (|| -> std::io::Result<()> {
                let mut f = File::create(&tmp)?;
                f.write_all(bytes)?;
                if let Some(p) = old_perms {
                    f.set_permissions(p)?;
                }
                f.sync_all()
            })()
            .and_then(|_| std::fs::rename(&tmp, &target));
            written.map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                ModelError::io(path, e)
            })
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vitfuse-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn symlinks_keep_their_link_and_get_the_new_bytes_in_their_target() {
        let d = scratch("link");
        std::fs::write(d.join("target"), b"old").unwrap();
        symlink("target", d.join("link")).unwrap();
        write_file(&d.join("link"), b"new").unwrap();
        assert!(std::fs::symlink_metadata(d.join("link")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(d.join("target")).unwrap(), b"new");
        // A dangling link creates its target.
        symlink("made", d.join("dangling")).unwrap();
        write_file(&d.join("dangling"), b"x").unwrap();
        assert_eq!(std::fs::read(d.join("made")).unwrap(), b"x");
        assert!(std::fs::symlink_metadata(d.join("dangling")).unwrap().file_type().is_symlink());
        // No temporary file is left behind.
        let mut names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["dangling", "link", "made", "target"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn devices_and_fifos_are_written_through_and_folders_refused() {
        use std::os::unix::fs::FileTypeExt;
        write_file(Path::new("/dev/null"), b"bytes").unwrap();
        assert_eq!(destination(Path::new("/dev/null")).unwrap(), Destination::WriteThrough("/dev/null".into()));
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
        let d = scratch("dir");
        let fifo = d.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        check_writable(&fifo).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_file(&fifo, b"through").unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        let e = write_file(&d, b"x").unwrap_err().to_string();
        assert!(e.contains(&d.display().to_string()), "{e}");
        let e = check_writable(&d.join("no/such/file")).unwrap_err().to_string();
        assert!(e.contains("no/such/file"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn permissions_of_a_replaced_file_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let d = scratch("perm");
        let f = d.join("out");
        std::fs::write(&f, b"old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file(&f, b"new").unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read(&f).unwrap(), b"new");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
