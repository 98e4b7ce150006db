//! The rig's errors: each names the thing (file, process, port) and what went wrong.

use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong setting up or driving the rig.
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    /// A file or folder of the rig could not be written or read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the rig was doing ("cannot write", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The simulator would not start or refused a command.
    #[error("simulator: {0}")]
    Sim(#[from] modem_sim::SimError),
    /// A bounded wait ran out.
    #[error("waited {waited:?} for {what}")]
    Timeout {
        /// What was awaited, in words.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// smsd could not be started or stopped.
    #[error("smsd ({conf}): {problem}")]
    Smsd {
        /// The config of the smsd in question.
        conf: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The `sim7600` binary of host-linux is not there and could not be built.
    #[error("the sim7600 binary is not available at {path}: {problem}")]
    Sim7600Binary {
        /// Where it was looked for.
        path: PathBuf,
        /// Why it is missing.
        problem: String,
    },
    /// `HIL_SIM_PROFILE` names no profile.
    #[error("HIL_SIM_PROFILE is {0:?}; it must be \"simulator\" or \"real-modem\"")]
    BadProfile(String),
    /// An HTTP request got no answer (or the answer was cut off).
    #[error("{request}: {problem}")]
    Http {
        /// The method and URL.
        request: String,
        /// What went wrong.
        problem: String,
    },
    /// A step needs the simulator's control channel and the rig drives a real modem.
    #[error("{0} needs the simulator; the rig drives a real modem (HIL_PORT)")]
    NeedsSimulator(&'static str),
}

impl RigError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> RigError {
        let path = path.into();
        move |source| RigError::Io {
            action,
            path,
            source,
        }
    }
}
