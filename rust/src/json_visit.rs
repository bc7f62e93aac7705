//! A piece shared by the serde visitors that read a few fields of a JSON document and pass
//! over the rest (usage.rs, universal.rs, compat.rs).

/// `visit_bool`, `visit_i64`, `visit_u64`, `visit_f64`, `visit_str` and `visit_unit`, each
/// answering `Ok($value)`: for a visitor that only reads objects or arrays and takes any
/// scalar as "nothing here".
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}
pub(crate) use scalars_are;
