//! Object names: what users write (`jobs`) and what the kernel sees (`/shmkit.jobs`).

use std::ffi::CString;
use std::fmt;

use crate::error::NameError;

/// The prefix that marks a POSIX shared-memory object as shmkit's.
pub const PREFIX: &str = "shmkit.";

/// The longest name a user may give (the kernel allows 255 bytes for the whole file name).
pub const MAX_NAME_LEN: usize = 200;

/// A validated object name.
///
/// A name is 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9._-]`. The user's name `jobs`
/// becomes the POSIX object `/shmkit.jobs`, which is the file `/dev/shm/shmkit.jobs` and
/// which Python attaches to as `SharedMemory(name="shmkit.jobs")`.
///
/// # Examples
///
/// ```
/// use shmkit::Name;
///
/// let name = Name::new("jobs")?;
/// assert_eq!(name.as_str(), "jobs");
/// assert_eq!(name.os_name(), "/shmkit.jobs");
/// assert!(Name::new("no/slashes").is_err());
/// # Ok::<(), shmkit::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// [`NameError`] if `name` is empty, longer than [`MAX_NAME_LEN`], or holds a byte
    /// outside `[A-Za-z0-9._-]`.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: name.len(), max: MAX_NAME_LEN });
        }
        if let Some((index, ch)) =
            name.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(NameError::InvalidChar { ch, index });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as the user gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The POSIX shared-memory name, `/shmkit.<name>`.
    pub fn os_name(&self) -> String {
        format!("/{PREFIX}{}", self.0)
    }

    /// The file under `/dev/shm` that holds the object.
    pub fn path(&self) -> String {
        format!("{}/{PREFIX}{}", crate::sys::SHM_DIR, self.0)
    }

    pub(crate) fn c_os_name(&self) -> CString {
        // Validation admits no NUL byte, so this cannot fail.
        CString::new(self.os_name()).unwrap_or_default()
    }

    /// The user's name for a file under `/dev/shm`, if that file is one of shmkit's.
    pub fn from_file_name(file: &str) -> Option<Self> {
        Self::new(file.strip_prefix(PREFIX)?).ok()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in ["a", "jobs", "A.b_c-9", &"x".repeat(MAX_NAME_LEN)] {
            assert_eq!(Name::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn invalid_names_are_errors() {
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(
            Name::new(&"x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong { len: MAX_NAME_LEN + 1, max: MAX_NAME_LEN })
        );
        assert_eq!(Name::new("a/b"), Err(NameError::InvalidChar { ch: '/', index: 1 }));
        assert_eq!(Name::new("a\0"), Err(NameError::InvalidChar { ch: '\0', index: 1 }));
        assert_eq!(Name::new("é"), Err(NameError::InvalidChar { ch: 'é', index: 0 }));
        assert_eq!(Name::new("a b"), Err(NameError::InvalidChar { ch: ' ', index: 1 }));
    }

    #[test]
    fn file_names_map_back() {
        assert_eq!(Name::from_file_name("shmkit.jobs").unwrap().as_str(), "jobs");
        assert!(Name::from_file_name("psm_1234").is_none());
        assert!(Name::from_file_name("shmkit.").is_none());
    }
}
