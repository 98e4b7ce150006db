//! Which way the simulated modem speaks in a scenario: the simulator's own, or the way real
//! SIM7600s were seen to speak in public captures ([`modem_sim::Behaviour::real_modem`]:
//! `VOICE CALL: BEGIN` before the `OK` of `ATA`, the end of a call before the `OK` of
//! `AT+CHUP`, call id 4, type 128 for shown numbers, `ME` storage, `\r\r\n` around
//! `+RXDTMF`/`+CRING`).
//!
//! Every scenario with a call or an SMS runs on both: [`on_both_profiles!`] makes two tests
//! of one scenario function, each setting the profile for the rigs its thread builds. Other
//! tests get the profile of `HIL_SIM_PROFILE` (`simulator`, the default, or `real-modem`).
//! A config that sets its own behaviour keeps it.

use std::cell::Cell;

use modem_sim::Behaviour;

use crate::RigError;

/// The environment variable that picks the profile of tests not run on both.
pub const HIL_SIM_PROFILE_ENV: &str = "HIL_SIM_PROFILE";

/// One of the two ways the simulated modem speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimProfile {
    /// [`Behaviour::simulator`].
    Simulator,
    /// [`Behaviour::real_modem`].
    RealModem,
}

impl SimProfile {
    /// The simulator's behaviour for this profile.
    pub fn behaviour(self) -> Behaviour {
        match self {
            SimProfile::Simulator => Behaviour::simulator(),
            SimProfile::RealModem => Behaviour::real_modem(),
        }
    }

    /// The profile named `simulator` or `real-modem`.
    pub fn from_name(name: &str) -> Option<SimProfile> {
        match name {
            "simulator" => Some(SimProfile::Simulator),
            "real-modem" => Some(SimProfile::RealModem),
            _ => None,
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<SimProfile>> = const { Cell::new(None) };
}

/// Runs `scenario` with the rigs of this thread on `profile`.
pub fn with_profile<R>(profile: SimProfile, scenario: impl FnOnce() -> R) -> R {
    struct Restore(Option<SimProfile>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(Some(profile))));
    scenario()
}

/// The profile for a rig built now: the one [`with_profile`] set, else `HIL_SIM_PROFILE`,
/// else the simulator's own.
pub fn current() -> Result<SimProfile, RigError> {
    if let Some(profile) = CURRENT.with(Cell::get) {
        return Ok(profile);
    }
    match std::env::var(HIL_SIM_PROFILE_ENV) {
        Ok(name) if !name.is_empty() => {
            SimProfile::from_name(&name).ok_or(RigError::BadProfile(name))
        }
        _ => Ok(SimProfile::Simulator),
    }
}

/// Makes two tests of the scenario function `name` (no arguments, returns `()`):
/// `name::simulator` and `name::real_modem`, one per [`SimProfile`].
#[macro_export]
macro_rules! on_both_profiles {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn simulator() {
                    $crate::profile::with_profile(
                        $crate::profile::SimProfile::Simulator,
                        super::$name,
                    )
                }

                #[test]
                fn real_modem() {
                    $crate::profile::with_profile(
                        $crate::profile::SimProfile::RealModem,
                        super::$name,
                    )
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rig, SimConfig};

    #[test]
    fn a_rig_built_inside_with_profile_speaks_that_way_and_a_custom_behaviour_is_kept() {
        let state = |rig: &Rig| rig.sim().unwrap().state().unwrap().modem.behaviour;
        let real = with_profile(SimProfile::RealModem, || {
            Rig::simulated(SimConfig::default()).unwrap()
        });
        assert_eq!(state(&real), Behaviour::real_modem());
        let own = with_profile(SimProfile::Simulator, || {
            Rig::simulated(SimConfig::default()).unwrap()
        });
        assert_eq!(state(&own), Behaviour::simulator());
        let mut custom = Behaviour::simulator();
        custom.call_id = 3;
        let kept = with_profile(SimProfile::RealModem, || {
            Rig::simulated(SimConfig {
                behaviour: custom.clone(),
                ..SimConfig::default()
            })
            .unwrap()
        });
        assert_eq!(state(&kept), custom);
    }

    #[test]
    fn profile_names_are_the_two_documented_ones() {
        assert_eq!(
            SimProfile::from_name("simulator"),
            Some(SimProfile::Simulator)
        );
        assert_eq!(
            SimProfile::from_name("real-modem"),
            Some(SimProfile::RealModem)
        );
        assert_eq!(SimProfile::from_name("real"), None);
        let err = RigError::BadProfile("real".into()).to_string();
        assert!(
            err.contains("HIL_SIM_PROFILE") && err.contains("real-modem"),
            "{err}"
        );
    }
}
