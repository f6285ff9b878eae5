//! TLS on the Gremlin and admin ports: a certificate authority and a server certificate made
//! at test time (rcgen), a rustls client, and a plain-TCP client that must not disturb it.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Pki {
    ca_der: rustls::pki_types::CertificateDer<'static>,
    dir: std::path::PathBuf,
}

fn make_pki(name: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("coregraph-net-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    std::fs::write(dir.join("cert.pem"), leaf.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).expect("write key");
    Pki {
        ca_der: ca.der().clone(),
        dir,
    }
}

fn tls_client(pki: &Pki, addr: std::net::SocketAddr) -> Box<dyn ReadWrite> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    Box::new(rustls::StreamOwned::new(conn, tcp(addr)))
}

#[test]
fn gremlin_and_admin_ports_speak_tls() {
    let pki = make_pki("both");
    let server = start(net::Config {
        tls: Some(net::tls::TlsConfig {
            cert_chain_path: pki.dir.join("cert.pem"),
            private_key_path: pki.dir.join("key.pem"),
        }),
        ..net::Config::default()
    });
    let addr = server.local_addr();
    let mut c = Client::upgrade(tls_client(&pki, addr), "/gremlin").expect("wss upgrade");
    c.eval(&uuid(1), "range 70", &[]);
    let rs = c.responses_until_final();
    let shape: Vec<_> = rs.iter().map(|r| (r.code, r.count)).collect();
    assert_eq!(shape, vec![(206, Some(64)), (200, Some(6))]);

    // A plain-text client on the TLS port gets nowhere and harms nobody.
    let mut plain = tcp(addr);
    plain
        .write_all(b"GET /gremlin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1"),
        "no plain HTTP on a TLS port"
    );
    c.eval(&uuid(2), "range 1", &[]);
    assert_eq!(c.response().code, 200);

    // The admin port too.
    let admin = server.admin_addr().expect("admin");
    let mut s = tls_client(&pki, admin);
    s.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("OK\n"), "{text}");
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[test]
fn bad_tls_files_fail_at_start() {
    let pki = make_pki("bad");
    std::fs::write(pki.dir.join("empty.pem"), "").expect("write");
    let config = net::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        cpus: net::server::allowed_cpus()
            .expect("affinity")
            .into_iter()
            .take(1)
            .collect(),
        tls: Some(net::tls::TlsConfig {
            cert_chain_path: pki.dir.join("empty.pem"),
            private_key_path: pki.dir.join("key.pem"),
        }),
        ..net::Config::default()
    };
    let err = net::serve(config, serializers(), |_| TestService)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}
