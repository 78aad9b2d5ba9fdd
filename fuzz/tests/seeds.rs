//! Replays every seed under `fuzz/seeds/<target>/`
//! through the fuzz checks, without libFuzzer: `cargo test` in `fuzz/`
//! works on a stable toolchain.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in ["seeds"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else { continue };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let data = fs::read(&path).expect("a readable seed");
            eprintln!("{}", path.display());
            check(&data);
            count += 1;
        }
    }
    assert!(count > 0, "no seeds for {target}");
}

#[test]
fn client() {
    replay("client", rnats_fuzz::client::check);
}

#[test]
fn route() {
    replay("route", rnats_fuzz::route::check);
}

#[test]
fn leaf() {
    replay("leaf", rnats_fuzz::leaf::check);
}

#[test]
fn json() {
    replay("json", rnats_fuzz::json::check);
}

#[test]
fn conf() {
    replay("conf", rnats_fuzz::conf::check);
}

#[test]
fn http() {
    replay("http", rnats_fuzz::http::check);
}

#[test]
fn ws() {
    replay("ws", rnats_fuzz::ws::check);
}

#[test]
fn jsapi() {
    replay("jsapi", rnats_fuzz::jsapi::check);
}

#[test]
fn jsstore() {
    replay("jsstore", rnats_fuzz::jsstore::check);
}
