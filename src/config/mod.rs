//! What the server is told to do: the option types (`options`), the
//! command line (`cli`), the configuration file (`file`), and reload on
//! SIGHUP (`reload`).

pub mod cli;
pub mod file;
pub mod options;
pub mod reload;
