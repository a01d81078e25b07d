//! The two parse paths of an ingest line agree: the fast typed path that
//! well-formed lines take, and the thorough path through a JSON value that
//! names every bad field. Over generated lines (good, bad in every field,
//! missing keys, unknown keys, duplicates, odd types and numbers), the line
//! as text gives exactly what its parsed JSON value gives.
use argus_domain::record::{UsageInput, KEYS};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A value for a key: mostly plausible for it, often not.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        // Strings: slugs, ids, free text, empty, blanks, unicode, times.
        "[a-z][a-z0-9-]{0,12}".prop_map(Value::from),
        "[ -~]{0,20}".prop_map(Value::from),
        Just(json!("")),
        Just(json!("  ")),
        Just(json!("Ärger/模型")),
        Just(json!("2026-11-02T10:00:00Z")),
        Just(json!("2026-11-02T10:00:00.123456789+05:30")),
        Just(json!("2026-11-02")),
        Just(json!("2026-02-30T10:00:00Z")),
        Just(json!("ok")),
        Just(json!("timeout")),
        // Numbers: counts in range, at and past the limits, negative, fractional.
        (0u64..5_000_000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(1.0)),
        Just(json!(2.5)),
        Just(json!(1e3)),
        Just(json!(-0.0)),
        // Other types.
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        Just(json!([1, 2])),
        Just(json!({"a": 1})),
    ]
}

/// The usual value of a key, so that many generated lines are wholly good.
fn good(key: &str) -> Value {
    match key {
        "id" => json!("r-1"),
        "org" => json!("acme"),
        "provider" => json!("openai"),
        "model" => json!("gpt-4o"),
        "operation" => json!("chat"),
        "investigation" => json!("INV-7"),
        "user" => json!("ann"),
        "status" => json!("ok"),
        "occurred_at" => json!("2026-11-02T10:00:00Z"),
        "reservation_id" => json!("res-1"),
        _ => json!(120),
    }
}

/// For each key: absent, its good value, or a generated one.
fn line() -> impl Strategy<Value = String> {
    let fields = proptest::collection::vec((0u8..3, value()), KEYS.len());
    (fields, proptest::option::of(("[a-z_]{1,8}", value())), proptest::option::of((0..KEYS.len(), value())), any::<bool>()).prop_map(
        |(fields, unknown, duplicate, spaced)| {
            let mut parts = Vec::new();
            for (key, (choice, v)) in KEYS.iter().zip(fields) {
                match choice {
                    0 => {}
                    1 => parts.push(format!("{}:{}", json!(key), good(key))),
                    _ => parts.push(format!("{}:{}", json!(key), v)),
                }
            }
            if let Some((k, v)) = unknown {
                parts.push(format!("{}:{}", json!(k), v));
            }
            if let Some((i, v)) = duplicate {
                parts.push(format!("{}:{}", json!(KEYS[i]), v));
            }
            let sep = if spaced { ", " } else { "," };
            format!("{{{}}}", parts.join(sep))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn the_fast_and_the_thorough_parse_agree(text in line()) {
        let fast = UsageInput::from_json_text(&text);
        let value: Value = serde_json::from_str(&text).expect("generated lines are JSON");
        let thorough = UsageInput::from_json(&value);
        match (&fast, &thorough) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", text),
            (Err(a), Err(b)) => {
                let fields = |e: &Vec<argus_domain::error::FieldError>| e.iter().map(|f| f.field.clone()).collect::<Vec<_>>();
                prop_assert_eq!(fields(a), fields(b), "the same fields are named bad: {}", text);
            }
            _ => prop_assert!(false, "one path accepts what the other refuses: {}\nfast: {:?}\nthorough: {:?}", text, fast, thorough),
        }
    }
}
