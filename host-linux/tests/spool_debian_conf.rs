//! smsd.conf as Debian's smstools package installs it (/etc/smsd.conf, read-only): the
//! spool reader finds the folders and the modem smsd itself would use.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use host_linux::spool::SmsdConf;

#[test]
fn debians_installed_smsd_conf_names_the_var_spool_sms_folders_and_gsm1() {
    let path = Path::new(host_linux::spool::DEFAULT_SMSD_CONF);
    assert!(
        path.exists(),
        "{} is missing: install Debian's smstools (apt-get install smstools)",
        path.display()
    );
    let conf = SmsdConf::load(path).unwrap();
    assert_eq!(conf.path, path);
    assert_eq!(conf.outgoing, Path::new("/var/spool/sms/outgoing"));
    assert_eq!(conf.checked, Path::new("/var/spool/sms/checked"));
    assert_eq!(conf.incoming, Path::new("/var/spool/sms/incoming"));
    assert_eq!(
        conf.failed.as_deref(),
        Some(Path::new("/var/spool/sms/failed"))
    );
    assert_eq!(conf.sent.as_deref(), Some(Path::new("/var/spool/sms/sent")));
    assert_eq!(conf.modems.len(), 1);
    let gsm1 = &conf.modems[0];
    assert_eq!(gsm1.name, "GSM1");
    // Debian's postinst writes the port it asked about; the shipped default is ttyS0.
    assert!(gsm1.device.starts_with("/dev/"), "{:?}", gsm1.device);
    assert!(gsm1.incoming);
    // The only modem is the bot's whatever port the bot is given.
    assert_eq!(
        conf.modem_for_bot(Path::new("/dev/ttyUSB2")).unwrap().name,
        "GSM1"
    );
}
