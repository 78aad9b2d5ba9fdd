//! `rnats-server`: options → logging → server → exit status.

mod auth;
mod client;
mod config;
mod conn;
#[cfg(feature = "jetstream")]
mod jetstream;
#[cfg(not(feature = "jetstream"))]
#[path = "jetstream/disabled.rs"]
mod jetstream;
mod leaf;
mod logging;
mod monitor;
mod route;
mod routing;
mod server;
mod sys;
#[cfg(feature = "tls")]
mod tls;

use config::cli::{parse_args, Action};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Action::Run(o)) => *o,
        Ok(Action::Exit(text, code)) => {
            print!("{text}");
            std::process::exit(code);
        }
        Ok(Action::ExitStderr(text, code)) => {
            eprint!("{text}");
            std::process::exit(code);
        }
        Err(e) => {
            eprintln!("nats-server: {e}");
            std::process::exit(1);
        }
    };
    let cfg = logging::LogConfig {
        debug: opts.debug,
        trace: opts.trace,
        logtime: opts.logtime,
        utc: opts.logtime_utc,
        file: opts.log_file.as_deref(),
    };
    if let Err(e) = logging::init(&cfg) {
        eprintln!("nats-server: error opening log file: {e}");
        std::process::exit(1);
    }
    if let Some(p) = &opts.pid_file {
        if let Err(e) = std::fs::write(p, std::process::id().to_string()) {
            logging::fatal(&format!("Could not write pidfile: {e}"));
        }
    }
    let mut server = match server::Server::new(opts) {
        Ok(s) => s,
        Err(e) => logging::fatal(&format!("Error creating server: {e}")),
    };
    if let Err(e) = server.start() {
        logging::fatal(&e);
    }
    std::process::exit(server.run());
}
