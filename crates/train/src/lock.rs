//! The lock on a run directory: the kernel's (`flock`), so that a holder that died, however it
//! died, holds nothing.

use crate::run_dir::{RunDir, LOCK};
use makemore_model::error::RunError;
use std::path::{Path, PathBuf};

/// The lock on a run directory (see [`RunDir::lock`]): an open, `flock`ed file, which the
/// kernel releases when the process ends however it ends.
#[derive(Debug)]
pub struct RunLock {
    file: std::fs::File,
    path: PathBuf,
    dir: PathBuf,
    /// The highest folder that taking the lock created, if it created any.
    created: Option<PathBuf>,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so that a process that opened it meanwhile sees that the
        // file it locked is no longer the lock (see `RunDir::lock`).
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
        if let Some(top) = &self.created {
            // Only empty folders go, from the run directory up to the highest one created.
            for dir in self.dir.ancestors() {
                if std::fs::remove_dir(dir).is_err() || dir == top {
                    break;
                }
            }
        }
    }
}

/// Whether the open `file` is still the file at `path` (a lock file removed and created again
/// between opening and locking is not).
fn is_file_at(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.is_file()
    }
}

/// Taking the lock of a run directory.
impl RunDir {
    /// Creates the directory if need be and takes its lock, so that no other process writes this
    /// run at the same time; the lock goes when the guard is dropped (and with it the directory,
    /// if it was created here and nothing was written into it). The lock is the kernel's
    /// (`flock`), so a holder that died, however it died, holds nothing: a lock file left
    /// behind is taken over, whatever pid it names.
    pub fn lock(&self) -> Result<RunLock, RunError> {
        if self.path().exists() && !self.path().is_dir() {
            return Err(RunError::bad(self.path(), "is not a directory"));
        }
        let created = !self.path().is_dir();
        // The highest folder this call creates, so that a refused run leaves none behind.
        let mut top = self.path().to_path_buf();
        while let Some(parent) = top
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.exists())
        {
            top = parent.to_path_buf();
        }
        if created {
            std::fs::create_dir_all(self.path()).map_err(RunError::io(self.path()))?;
            let parent = self.path().parent().filter(|p| !p.as_os_str().is_empty());
            makemore_files::sync_dir(parent.unwrap_or(Path::new(".")));
        }
        let path = self.file(LOCK);
        let kind = std::fs::symlink_metadata(&path).map(|m| m.file_type());
        if kind.is_ok_and(|k| k.is_dir() || k.is_symlink()) {
            return Err(RunError::bad(
                &path,
                "is a directory or a symbolic link, not the run's lock file: remove it",
            ));
        }
        // A lock file removed by its holder between our open and our lock is retried.
        for _ in 0..8 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(RunError::io(&path))?;
            match file.try_lock() {
                Ok(()) if is_file_at(&file, &path) => {
                    use std::io::{Seek, Write};
                    let pid = format!("{}\n", std::process::id());
                    let _ = file
                        .set_len(0)
                        .and_then(|_| file.rewind())
                        .and_then(|_| file.write_all(pid.as_bytes()));
                    return Ok(RunLock {
                        file,
                        path,
                        dir: self.path().to_path_buf(),
                        created: created.then_some(top),
                    });
                }
                Ok(()) => continue,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    return Err(RunError::Locked {
                        dir: self.path().to_path_buf(),
                        pid: holder.trim().parse().ok(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(RunError::bad(
                        &path,
                        format!("cannot lock the run directory: {e}"),
                    ))
                }
            }
        }
        Err(RunError::bad(
            &path,
            "could not take the run directory's lock (it kept being replaced)",
        ))
    }
}
