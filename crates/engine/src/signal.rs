//! [`Signal`]: the signals a client may send to a run, and signal names for results.

/// A signal a client may send to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGKILL.
    Kill,
    /// SIGHUP.
    Hangup,
    /// SIGQUIT.
    Quit,
    /// SIGUSR1.
    User1,
    /// SIGUSR2.
    User2,
}

impl Signal {
    /// Parse `SIGINT`, `INT`, `sigint`, `2`, ...
    pub fn parse(text: &str) -> Option<Signal> {
        let upper = text.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        Some(match name {
            "INT" | "2" => Signal::Interrupt,
            "TERM" | "15" => Signal::Terminate,
            "KILL" | "9" => Signal::Kill,
            "HUP" | "1" => Signal::Hangup,
            "QUIT" | "3" => Signal::Quit,
            "USR1" | "10" => Signal::User1,
            "USR2" | "12" => Signal::User2,
            _ => return None,
        })
    }

    /// The Linux signal number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
            Signal::Kill => 9,
            Signal::Hangup => 1,
            Signal::Quit => 3,
            Signal::User1 => 10,
            Signal::User2 => 12,
        }
    }
}

/// The name of a signal number (`SIGKILL`), for results.
pub fn signal_name(number: i32) -> String {
    let name = match number {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        other => return format!("SIG{other}"),
    };
    name.to_owned()
}
