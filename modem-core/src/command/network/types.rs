//! Parameter enums of the network commands.

/// `<n>` of `+CREG`: whether the modem reports registration changes on its own
/// (3GPP TS 27.007 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum RegistrationReporting {
    /// 0: no `+CREG` URC (the power-up default; the bot keeps it so).
    Disabled,
    /// 1: `+CREG: <stat>` on each change.
    Enabled,
    /// 2: with location (`<lac>`, `<ci>`).
    EnabledWithLocation,
    /// Any other value.
    Other(u8),
}

impl RegistrationReporting {
    /// The mode for its code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Disabled,
            1 => Self::Enabled,
            2 => Self::EnabledWithLocation,
            other => Self::Other(other),
        }
    }
}

/// `<stat>` of `+CREG`: the circuit-switched registration (3GPP TS 27.007 §7.2); calls and
/// SMS need `Home` or `Roaming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum RegistrationStatus {
    /// 0: not registered, not searching.
    NotRegistered,
    /// 1: registered, home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 4: unknown (out of coverage).
    Unknown,
    /// 5: registered, roaming.
    Roaming,
    /// Any other value (27.007 adds 6..=10 for SMS-only and CSFB states).
    Other(u8),
}

impl RegistrationStatus {
    /// The status for its code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => Self::NotRegistered,
            1 => Self::Home,
            2 => Self::Searching,
            3 => Self::Denied,
            4 => Self::Unknown,
            5 => Self::Roaming,
            other => Self::Other(other),
        }
    }

    /// Whether calls and SMS can work (home or roaming).
    pub const fn is_registered(self) -> bool {
        matches!(self, Self::Home | Self::Roaming)
    }
}
