//! Newtype ids, all made by one macro.

/// Declares an integer id newtype with serde (as a plain number) and
/// `Display`. The store adds its rusqlite conversions with the same macro's
/// output, through `.0`.
#[macro_export]
macro_rules! int_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// Row id of an organisation in one store.
    OrgId
);
int_id!(
    /// Id of a price version. Records keep the id they were costed with.
    PriceId
);
int_id!(
    /// Sequence number of a record in a store: assigned on insert, never reused.
    Seq
);
