//! JetStream's pure parts: the stream and consumer configurations of API
//! requests (read, defaulted and checked as Go does, written back in Go's
//! order), API errors and the store's record format. Every entry
//! point takes arbitrary input (the `jsapi` and `jsstore` fuzz targets).

pub mod config;
pub mod next;
pub mod record;

use crate::json::Value;

/// An API error as Go writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub err_code: u16,
    pub description: String,
}

impl ApiError {
    pub fn new(code: u16, err_code: u16, description: &str) -> ApiError {
        ApiError { code, err_code, description: description.to_string() }
    }
    pub fn bad_json() -> ApiError {
        ApiError::new(400, 10025, "invalid JSON")
    }
    pub fn stream_not_found() -> ApiError {
        ApiError::new(404, 10059, "stream not found")
    }
    pub fn consumer_not_found() -> ApiError {
        ApiError::new(404, 10014, "consumer not found")
    }
    pub fn bad_request() -> ApiError {
        ApiError::new(400, 10003, "bad request")
    }
    pub fn to_value(&self) -> Value {
        let mut o = config::Obj::default();
        o.put("code", config::n(i64::from(self.code)));
        o.put("err_code", config::n(i64::from(self.err_code)));
        o.put("description", config::s(&self.description));
        o.done()
    }
}
