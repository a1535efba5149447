//! The database's files, readable and writable by their owner only: they hold password hashes,
//! sealed secrets and every tenant's configuration.
//!
//! SQLite creates a new database file with mode 0644, whatever the umask, and gives its `-wal`
//! and `-shm` files the database file's mode. So the database file is created here first, mode
//! 0600, and SQLite's own files follow it. A database file (or `-wal`, `-shm`) found with wider
//! permissions, made by an older sipmap or by hand, is made owner-only at start, with a warning.

use std::path::{Path, PathBuf};

/// The database file and the files SQLite keeps beside it in WAL mode.
fn files(database: &Path) -> [PathBuf; 3] {
    let beside = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [database.to_path_buf(), beside("-wal"), beside("-shm")]
}

/// Creates the database file owner-only if it does not exist, and makes it and its `-wal` and
/// `-shm` files owner-only if others may read or write them. A file whose mode cannot be changed
/// (another user's) is left as it is, with a warning.
#[cfg(unix)]
pub fn make_private(database: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(database);
    match created {
        // The umask may have taken bits from 0600 (or none: the mode is exact either way).
        Ok(_) => std::fs::set_permissions(database, std::fs::Permissions::from_mode(0o600))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for file in files(database) {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            continue;
        }
        let private = mode & 0o700;
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(private)) {
            Ok(()) => tracing::warn!(
                file = %file.display(),
                was = format!("{mode:04o}"),
                now = format!("{private:04o}"),
                "the database file was open to other users; it is now owner-only"
            ),
            Err(e) => tracing::warn!(
                file = %file.display(),
                mode = format!("{mode:04o}"),
                error = %e,
                "the database file is open to other users and its mode cannot be changed"
            ),
        }
    }
    Ok(())
}

/// Elsewhere, file modes are left to the system.
#[cfg(not(unix))]
pub fn make_private(_database: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_database_is_owner_only_and_an_open_one_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        make_private(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let [_, wal, shm] = files(&db);
        assert!(wal.ends_with("s.db-wal") && shm.ends_with("s.db-shm"));
        for (file, wide) in [(&db, 0o644), (&wal, 0o666), (&shm, 0o604)] {
            std::fs::write(file, b"").ok();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(wide)).unwrap();
        }
        make_private(&db).unwrap();
        for file in [&db, &wal, &shm] {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        // Fewer rights than 0600 stay as they are.
        std::fs::set_permissions(&shm, std::fs::Permissions::from_mode(0o400)).unwrap();
        make_private(&db).unwrap();
        assert_eq!(mode(&shm), 0o400);
    }
}
