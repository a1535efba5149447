use std::io::{Read, Write};
use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, date_time_ymd};
use rustls::pki_types::ServerName;

use super::*;

/// A certificate (PEM) for `name` signed by its own key, valid from `from` to `to` (years).
fn self_signed(name: &str, from: i32, to: i32) -> (String, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.not_before = date_time_ymd(from, 1, 1);
    params.not_after = date_time_ymd(to, 1, 1);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    (params.self_signed(&key).unwrap().pem(), key)
}

struct Files {
    _dir: tempfile::TempDir,
    files: CertFiles,
}

impl Files {
    fn write(&self, cert: &str, key: &str) {
        // Written beside and renamed, as a certificate tool does, so no reader sees half a file.
        for (path, text) in [(&self.files.cert, cert), (&self.files.key, key)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
    }
}

fn files(cert: &str, key: &str) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let f = Files {
        files: CertFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        },
        _dir: dir,
    };
    f.write(cert, key);
    f
}

fn good(name: &str) -> (String, String) {
    let (cert, key) = self_signed(name, 2020, 2090);
    (cert, key.serialize_pem())
}

/// Runs a handshake in memory between `server` and a client trusting `trusted` (PEM) and
/// returns the DER certificate the server presented.
fn handshake(
    server: Arc<rustls::ServerConfig>,
    trusted: &str,
    name: &str,
) -> Result<Vec<u8>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(trusted.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let client_config = Arc::new(client_config_with_roots(roots));
    let mut client = rustls::ClientConnection::new(
        client_config,
        ServerName::try_from(name.to_owned()).unwrap(),
    )
    .unwrap();
    let mut server = rustls::ServerConnection::new(server).unwrap();
    for _ in 0..10 {
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut &buf[..]).unwrap();
        server.process_new_packets()?;
        buf.clear();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut &buf[..]).unwrap();
        client.process_new_packets()?;
        if !client.is_handshaking() && !server.is_handshaking() {
            client.writer().write_all(b"ping").unwrap();
            buf.clear();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut &buf[..]).unwrap();
            server.process_new_packets()?;
            let mut got = [0u8; 4];
            server.reader().read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            return Ok(client.peer_certificates().unwrap()[0].to_vec());
        }
    }
    panic!("the handshake did not finish");
}

fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn a_good_pair_is_served() {
    let (cert, key) = good("localhost");
    let f = files(&cert, &key);
    let certs = ServerCerts::load(f.files.clone()).unwrap();
    assert_eq!(certs.not_after(), 3_786_912_000, "2090-01-01T00:00:00Z");
    let seen = handshake(certs.server_config(&[b"h2"]), &cert, "localhost").unwrap();
    assert_eq!(seen, der_of(&cert));
}

#[test]
fn debug_shows_nothing_of_the_key() {
    let (cert, key) = good("localhost");
    let f = files(&cert, &key);
    let certs = ServerCerts::load(f.files.clone()).unwrap();
    let shown = format!("{certs:?}");
    assert!(shown.contains("2090-01-01T00:00:00Z"), "{shown}");
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!shown.contains(&body[..16]), "{shown}");
    assert!(!shown.contains("PRIVATE"), "{shown}");
}

#[test]
fn a_missing_file_is_named() {
    let (cert, key) = good("localhost");
    let f = files(&cert, &key);
    std::fs::remove_file(&f.files.key).unwrap();
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(matches!(&e, TlsError::Missing { what: "key", path } if *path == f.files.key));
    assert!(e.to_string().contains("key.pem: not found"), "{e}");
    std::fs::remove_file(&f.files.cert).unwrap();
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(matches!(
        e,
        TlsError::Missing {
            what: "certificate",
            ..
        }
    ));
}

#[test]
fn an_unreadable_file_is_named() {
    let (cert, key) = good("localhost");
    let f = files(&cert, &key);
    // A directory where the key should be cannot be read, whoever runs the test.
    std::fs::remove_file(&f.files.key).unwrap();
    std::fs::create_dir(&f.files.key).unwrap();
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(matches!(e, TlsError::Unreadable { what: "key", .. }), "{e}");
}

#[test]
fn files_swapped_or_empty_are_refused() {
    let (cert, key) = good("localhost");
    let f = files(&key, &cert);
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
    f.write(&cert, &cert);
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
    f.write(&cert, "");
    assert!(matches!(
        ServerCerts::load(f.files.clone()),
        Err(TlsError::NoKey { .. })
    ));
}

#[test]
fn an_expired_certificate_is_refused() {
    let (cert, key) = self_signed("localhost", 2000, 2001);
    let f = files(&cert, &key.serialize_pem());
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(
        matches!(&e, TlsError::Expired { not_after, .. } if not_after == "2001-01-01T00:00:00Z"),
        "{e}"
    );
}

#[test]
fn a_certificate_not_yet_valid_is_refused() {
    // 2080 and later are written as GeneralizedTime, before 2050 as UTCTime: both are read.
    let (cert, key) = self_signed("localhost", 2080, 2090);
    let f = files(&cert, &key.serialize_pem());
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(
        matches!(&e, TlsError::NotYetValid { not_before, .. } if not_before == "2080-01-01T00:00:00Z"),
        "{e}"
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let (cert, _) = good("localhost");
    let (_, other_key) = good("localhost");
    let f = files(&cert, &other_key);
    let e = ServerCerts::load(f.files.clone()).unwrap_err();
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
    assert!(
        !e.to_string().contains("PRIVATE"),
        "the key never shows: {e}"
    );
}

#[test]
fn reload_keeps_the_old_pair_on_bad_files_and_takes_a_good_one() {
    let (cert_a, key_a) = good("localhost");
    let f = files(&cert_a, &key_a);
    let certs = ServerCerts::load(f.files.clone()).unwrap();
    let config = certs.server_config(&[]);

    let (expired, expired_key) = self_signed("localhost", 2000, 2001);
    f.write(&expired, &expired_key.serialize_pem());
    assert!(matches!(certs.reload(), Err(TlsError::Expired { .. })));
    let (cert_b, key_b) = good("localhost");
    f.write(&cert_b, &key_a);
    assert!(matches!(certs.reload(), Err(TlsError::KeyMismatch { .. })));
    std::fs::remove_file(&f.files.cert).unwrap();
    assert!(matches!(certs.reload(), Err(TlsError::Missing { .. })));
    let seen = handshake(config.clone(), &cert_a, "localhost").unwrap();
    assert_eq!(seen, der_of(&cert_a), "still the old pair");

    f.write(&cert_b, &key_b);
    certs.reload().unwrap();
    let seen = handshake(config, &cert_b, "localhost").unwrap();
    assert_eq!(
        seen,
        der_of(&cert_b),
        "a config made before the reload presents the new pair"
    );
}

#[test]
fn a_changed_file_is_noticed_once() {
    let (cert_a, key_a) = good("localhost");
    let f = files(&cert_a, &key_a);
    let certs = ServerCerts::load(f.files.clone()).unwrap();
    assert!(!certs.reload_if_changed(), "nothing changed since the load");
    let (cert_b, key_b) = good("localhost");
    f.write(&cert_b, &key_b);
    assert!(certs.reload_if_changed());
    assert!(!certs.reload_if_changed());
    let seen = handshake(certs.server_config(&[]), &cert_b, "localhost").unwrap();
    assert_eq!(seen, der_of(&cert_b));
}

#[tokio::test]
async fn the_reloader_follows_file_changes() {
    let (cert_a, key_a) = good("localhost");
    let f = files(&cert_a, &key_a);
    let certs = ServerCerts::load(f.files.clone()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    spawn_reloader(vec![certs.clone()], async {
        let _ = stopped.await;
    });
    let (cert_b, key_b) = good("localhost");
    f.write(&cert_b, &key_b);
    let config = certs.server_config(&[]);
    // Bounded so that a broken reloader fails rather than hangs (15 polls).
    for _ in 0..300 {
        if handshake(config.clone(), &cert_b, "localhost").is_ok() {
            let _ = stop.send(());
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the reloader did not take the new pair");
}

#[test]
fn a_verifying_client_refuses_the_wrong_host_and_an_unknown_issuer() {
    let (cert, key) = good("localhost");
    let f = files(&cert, &key);
    let config = ServerCerts::load(f.files.clone())
        .unwrap()
        .server_config(&[]);
    let wrong_host = handshake(config.clone(), &cert, "example.com").unwrap_err();
    assert!(
        matches!(
            wrong_host,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{wrong_host:?}"
    );
    // A self-signed certificate of another name: the issuer is unknown.
    let (other, _) = good("other.test");
    let unknown = handshake(config, &other, "localhost").unwrap_err();
    assert!(
        matches!(
            unknown,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{unknown:?}"
    );
}

#[test]
fn the_client_roots_take_the_extra_ca_file() {
    let (cert, _) = good("localhost");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let without = client_roots(None).unwrap().len();
    assert_eq!(client_roots(Some(&ca)).unwrap().len(), without + 1);
    assert!(client_config(Some(&ca)).is_ok());

    let missing = dir.path().join("none.pem");
    assert!(matches!(
        client_config(Some(&missing)),
        Err(TlsError::Missing { what: "CA", .. })
    ));
    std::fs::write(&ca, "not a certificate").unwrap();
    assert!(matches!(
        client_config(Some(&ca)),
        Err(TlsError::NoCertificate { what: "CA", .. })
    ));
}

#[test]
fn der_times_are_read_and_bad_ones_refused() {
    assert_eq!(time(0x17, b"700101000000Z"), Some(0));
    assert_eq!(time(0x17, b"491231235959Z"), Some(2_524_607_999));
    assert_eq!(time(0x18, b"20500101000000Z"), Some(2_524_608_000));
    assert_eq!(time(0x17, b"701301000000Z"), None, "month 13");
    assert_eq!(time(0x17, b"7001010000000"), None, "no Z");
    assert_eq!(
        time(0x18, b"700101000000Z"),
        None,
        "GeneralizedTime too short"
    );
    assert_eq!(time(0x04, b"700101000000Z"), None, "not a time");
    assert_eq!(validity(b""), None);
    assert_eq!(
        validity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
        None,
        "length past the end"
    );
    assert_eq!(validity(&[0x30, 0x02, 0x30, 0x00]), None);
}
