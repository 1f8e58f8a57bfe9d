//! TLS towards Elasticsearch: a custom CA is trusted, a wrong CA fails with reason `tls`, and a
//! client certificate is presented when the server asks for one.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use support::{Exporter, value};

/// A CA that signs one certificate, for `127.0.0.1`.
struct Pki {
    ca_pem: String,
    leaf_pem: String,
    leaf_key_pem: String,
}

fn pki(name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        leaf_pem: leaf.pem(),
        leaf_key_pem: leaf_key.serialize_pem(),
    }
}

/// Serves `{}` at `/_remote/info` over TLS with the given server config; returns the base URL.
async fn serve_tls(config: rustls::ServerConfig) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().route("/_remote/info", get(|| async { "{}" }));
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
    let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
    tokio::spawn(server.serve(app.into_make_service()));
    format!("https://127.0.0.1:{}/", address.port())
}

fn server_config(pki: &Pki, client_ca: Option<&Pki>) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = vec![CertificateDer::from_pem_slice(pki.leaf_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.leaf_key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        Some(client_ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(client_ca.ca_pem.as_bytes()).unwrap())
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    builder.with_single_cert(chain, key).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_ca_is_trusted_and_a_wrong_ca_fails_with_reason_tls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server_pki = pki("server");
    let other_pki = pki("other");
    let client_pki = pki("client");
    let plain = serve_tls(server_config(&server_pki, None)).await;
    let mutual = serve_tls(server_config(&server_pki, Some(&client_pki))).await;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca = write("ca.pem", &server_pki.ca_pem);
    let wrong_ca = write("wrong-ca.pem", &other_pki.ca_pem);
    let client_cert = write("client.pem", &client_pki.leaf_pem);
    let client_key = write("client-key.pem", &client_pki.leaf_key_pem);

    let exporter = Exporter::with_config(&format!(
        r#"
poll_interval: 1s
timeout: 800ms
clusters:
  - {{ name: right-ca, url: "{plain}", tls_config: {{ ca_file: "{ca}" }} }}
  - {{ name: wrong-ca, url: "{plain}", tls_config: {{ ca_file: "{wrong_ca}" }} }}
  - {{ name: system-roots, url: "{plain}" }}
  - {{ name: skip-verify, url: "{plain}", tls_config: {{ insecure_skip_verify: true }} }}
  - name: client-cert
    url: "{mutual}"
    tls_config: {{ ca_file: "{ca}", cert_file: "{client_cert}", key_file: "{client_key}" }}
  - {{ name: no-client-cert, url: "{mutual}", tls_config: {{ ca_file: "{ca}" }} }}
"#
    ));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    for (cluster, up) in [
        ("right-ca", 1.0),
        ("wrong-ca", 0.0),
        ("system-roots", 0.0),
        ("skip-verify", 1.0),
        ("client-cert", 1.0),
        ("no-client-cert", 0.0),
    ] {
        assert_eq!(
            value(&text, &format!(r#"es_remote_up{{cluster="{cluster}"}}"#)),
            Some(up),
            "{cluster}"
        );
    }
    for cluster in ["wrong-ca", "system-roots", "no-client-cert"] {
        assert_eq!(
            value(
                &text,
                &format!(r#"es_remote_scrape_errors_total{{cluster="{cluster}",reason="tls"}}"#)
            ),
            value(
                &text,
                &format!(r#"es_remote_scrapes_total{{cluster="{cluster}"}}"#)
            ),
            "{cluster}\n{}",
            exporter.logs().join("\n")
        );
    }
    let logs = exporter.logs().join("\n");
    assert!(
        !logs.contains("PRIVATE KEY"),
        "a private key reached the logs"
    );
}
