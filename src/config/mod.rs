//! What the server is told to do: the option types (`options`), the
//! command line (`cli`) and the configuration file (`file`). Reload on
//! SIGHUP applies them to a running server (`server::reload`).

pub mod cli;
pub mod file;
pub mod options;
