//! How hard a write is pushed to stable storage before it resolves.

/// `none` (the page cache has it, as the legacy code did), `data` (`fdatasync`) or `full` (`fsync`,
/// `F_FULLFSYNC` on macOS, and the directory of a new file).
#[cfg_attr(feature = "node", napi_derive::napi(string_enum = "lowercase"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// No sync: the page cache has it (what the legacy code did).
    #[default]
    None,
    /// `fdatasync` of the transcript.
    Data,
    /// `fsync` of the transcript (`F_FULLFSYNC` on macOS) and of its directory when the file is new.
    Full,
}

impl Durability {
    pub const ALL: [Durability; 3] = [Durability::None, Durability::Data, Durability::Full];

    /// Its name in configuration (`openclaw.json`, the environment, options).
    pub fn name(self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Data => "data",
            Durability::Full => "full",
        }
    }

    pub fn from_name(name: &str) -> Option<Durability> {
        Durability::ALL.into_iter().find(|d| d.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Durability::ALL {
            assert_eq!(Durability::from_name(d.name()), Some(d));
        }
        assert_eq!(Durability::from_name("always"), None);
    }
}
