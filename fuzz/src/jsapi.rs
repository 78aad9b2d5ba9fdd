//! JetStream API request bodies: stream and consumer configurations, and
//! pull requests.
//!
//! Input: a JSON text. A configuration that parses and passes Go's checks
//! must be a fixed point: written back (`to_value`), read again and
//! normalized, it is the same configuration. A consumer configuration gets
//! Go's defaults from a stream and is checked against it. JSON that Go's
//! scanner refuses is refused by the JSON parser too. Nothing panics on any
//! input.

use rnats_protocol::jetstream::config::{ConsumerConfig, StreamConfig};
use rnats_protocol::jetstream::next;
use rnats_protocol::json::{parse, write_value};

pub fn check(data: &[u8]) {
    let _ = next::parse(data);
    if next::syntax_error(data).is_some() {
        assert!(parse(data).is_err(), "JSON Go refuses is refused");
    }
    let Ok(v) = parse(data) else { return };
    let stream = match StreamConfig::parse(&v) {
        Ok(mut c) => match c.normalize() {
            Ok(()) => {
                let mut text = Vec::new();
                write_value(&mut text, &c.to_value());
                let back = parse(&text).expect("a written configuration parses");
                let mut again = StreamConfig::parse(&back).expect("a written configuration reads back");
                again.normalize().expect("a normalized configuration stays valid");
                assert_eq!(c, again, "stream configuration changed through its JSON");
                let mut upd = again.clone();
                let _ = c.check_update(&mut upd);
                Some(c)
            }
            Err(e) => {
                assert!(e.code >= 400 && !e.description.is_empty());
                None
            }
        },
        Err(_) => None,
    };
    let cfg = v.get("config").unwrap_or(&v);
    if let Ok(mut c) = ConsumerConfig::parse(cfg) {
        let s = stream.unwrap_or_else(|| {
            let mut s = StreamConfig::parse(&parse(br#"{"name":"S"}"#).expect("JSON")).expect("config");
            s.normalize().expect("valid");
            s
        });
        c.set_defaults(&s, c.durable_name.is_empty());
        if c.check(&s).is_ok() {
            let mut text = Vec::new();
            write_value(&mut text, &c.to_value());
            let back = ConsumerConfig::parse(&parse(&text).expect("a written configuration parses"))
                .expect("a written consumer configuration reads back");
            assert_eq!(c, back, "consumer configuration changed through its JSON");
            assert!(c.check_update(&back, false).is_ok());
        }
    }
}
