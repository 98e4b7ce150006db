//! A real mosquitto (Debian's package) on a loopback port, with a user and a password,
//! and a plain MQTT client (rumqttc) that records every message it sees.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// The broker's user for the bots and the test.
pub const USER: &str = "fleet";
/// Its password.
pub const PASSWORD: &str = "s3cret-pw";

/// A running mosquitto; dropping it kills it.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "mosquitto is not installed: `apt-get install mosquitto` (the MQTT tests run the real broker)"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e} (`apt-get install openssl`)"));
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA (`<name>.pem`, `<name>.key`) made with openssl in `dir`.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    dir.join(format!("{name}.pem"))
}

impl Broker {
    /// Starts mosquitto with a password file in `dir`, waits until it accepts.
    pub fn start(dir: &Path) -> Broker {
        Broker::start_with(dir, "")
    }

    /// Also a TLS listener (certificate for 127.0.0.1 signed by a CA made here, `ca.pem`);
    /// returns the broker, the TLS port and the CA file.
    pub fn start_tls(dir: &Path) -> (Broker, u16, PathBuf) {
        let ca = make_ca(dir, "ca");
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.pem",
            ],
        );
        let tls_port = free_port();
        let listener = format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            ca.display(),
            dir.join("server.pem").display(),
            dir.join("server.key").display()
        );
        let broker = Broker::start_with(dir, &listener);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {tls_port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (broker, tls_port, ca)
    }

    fn start_with(dir: &Path, more: &str) -> Broker {
        let binary = mosquitto();
        let passwd = dir.join("mosquitto.passwd");
        let made = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([USER, PASSWORD])
            .output()
            .unwrap_or_else(|e| panic!("mosquitto_passwd: {e} (`apt-get install mosquitto`)"));
        assert!(made.status.success(), "{made:?}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `user root`: run as root, mosquitto would switch to its own user before reading
        // the key in this private folder; as anyone else the line changes nothing.
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "user root\nallow_anonymous false\npassword_file {}\npersistence false\nlistener {port} 127.0.0.1\n{more}",
                passwd.display()
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("mosquitto.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { child, port }
    }

    /// The `[mqtt]` url for a bot.
    pub fn url(&self) -> String {
        format!("mqtt://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }
}

/// One message seen.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// A client subscribed to some filters, recording every message.
pub struct Watcher {
    pub client: Client,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Watcher {
    /// Connects (as `id`) and subscribes to `filters`.
    pub fn connect(broker: &Broker, id: &str, filters: &[&str]) -> Watcher {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        options.set_credentials(USER, PASSWORD);
        options.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut connection) = Client::new(options, 64);
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).unwrap();
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            for n in connection.iter() {
                match n {
                    Ok(Event::Incoming(Packet::Publish(p))) => sink.lock().unwrap().push(Seen {
                        topic: p.topic.clone(),
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        retain: p.retain,
                    }),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Watcher { client, seen }
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `check` finds what it wants among the messages.
    pub fn wait<T>(&self, what: &str, within: Duration, check: impl Fn(&[Seen]) -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        loop {
            if let Some(t) = check(&self.seen()) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {within:?}; seen:\n{:#?}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last message on `topic`.
    pub fn last(&self, topic: &str) -> Option<Seen> {
        self.seen().into_iter().rev().find(|s| s.topic == topic)
    }

    /// Publishes.
    pub fn publish(&self, topic: &str, retain: bool, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .unwrap();
    }
}
