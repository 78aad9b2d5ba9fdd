//! What the server is told to do: the option types and the command line
//! (`options`), the configuration file (`file`), and reload on SIGHUP
//! (`reload`).

pub mod file;
pub mod options;
pub mod reload;
