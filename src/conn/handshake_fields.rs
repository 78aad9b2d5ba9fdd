//! The JSON fields of CONNECT and INFO with the types Go decodes them
//! into: a value of another type drops the connection, as in Go.

use rnats_protocol::json;

/// JSON types of the known CONNECT / INFO fields.
#[derive(Clone, Copy)]
pub enum JsonType {
    Bool,
    Str,
    Num,
    List,
}

pub const CONNECT_FIELDS: &[(&str, JsonType)] = &[
    ("verbose", JsonType::Bool),
    ("pedantic", JsonType::Bool),
    ("tls_required", JsonType::Bool),
    ("echo", JsonType::Bool),
    ("headers", JsonType::Bool),
    ("no_responders", JsonType::Bool),
    ("protocol", JsonType::Num),
    ("auth_token", JsonType::Str),
    ("user", JsonType::Str),
    ("pass", JsonType::Str),
    ("name", JsonType::Str),
    ("lang", JsonType::Str),
    ("version", JsonType::Str),
    ("account", JsonType::Str),
    ("new_account", JsonType::Bool),
    ("jwt", JsonType::Str),
    ("nkey", JsonType::Str),
    ("sig", JsonType::Str),
];

pub const INFO_FIELDS: &[(&str, JsonType)] = &[
    ("server_id", JsonType::Str),
    ("server_name", JsonType::Str),
    ("version", JsonType::Str),
    ("go", JsonType::Str),
    ("host", JsonType::Str),
    ("port", JsonType::Num),
    ("proto", JsonType::Num),
    ("max_payload", JsonType::Num),
    ("client_id", JsonType::Num),
    ("client_ip", JsonType::Str),
    ("headers", JsonType::Bool),
    ("auth_required", JsonType::Bool),
    ("tls_required", JsonType::Bool),
    ("connect_urls", JsonType::List),
    ("ldm", JsonType::Bool),
];

/// Whether `v` is an object whose known fields have the right JSON types
/// (`null` allowed). The Go server decodes these into typed structs and
/// drops a connection whose JSON does not fit, without an `-ERR`.
pub fn types_ok(v: &json::Value, fields: &[(&str, JsonType)]) -> bool {
    let json::Value::Object(entries) = v else { return false };
    entries.iter().all(|(k, val)| match fields.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)) {
        None => true,
        Some((_, kind)) => match (kind, val) {
            (_, json::Value::Null) => true,
            (JsonType::Bool, json::Value::Bool(_)) => true,
            (JsonType::Str, json::Value::String(_)) => true,
            // Go decodes these into integers: `1.0` and `1e0` do not fit.
            (JsonType::Num, json::Value::Integer(_)) => true,
            (JsonType::List, json::Value::Array(_)) => true,
            _ => false,
        },
    })
}
