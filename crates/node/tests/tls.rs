//! Mutual TLS on real QUIC over loopback: certificates made by `meridian certs`, and every
//! way a connection is refused (no certificate, another CA, another cluster id, a name that
//! is not a neighbour, a dialled node answering with another name, another ALPN), each
//! recorded with its kind and reason. Every wait is a bounded poll on the node's status.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use meridian_node::cluster::{self, LocalCluster};
use meridian_node::tls::{self, CertError, TlsIdentity};
use meridian_node::{Node, NodeConfig, StartError};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::{eventually, options, topology};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn init_makes_a_ca_with_a_cluster_id_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = tls::init_ca(dir.path(), "east-africa").unwrap();
    let before = std::fs::read(&ca.cert).unwrap();
    let again = tls::init_ca(dir.path(), "east-africa").unwrap_err();
    assert!(matches!(again, CertError::Exists { .. }), "{again}");
    assert_eq!(
        std::fs::read(&ca.cert).unwrap(),
        before,
        "the CA was rewritten"
    );

    let issued = tls::issue(dir.path(), "nairobi").unwrap();
    assert_eq!(issued.cluster_id, ca.cluster_id);
    let identity = TlsIdentity::load(&ca.cert, &issued.cert, &issued.key).unwrap();
    assert_eq!(identity.node_name(), "nairobi");
    assert_eq!(identity.cluster_id(), ca.cluster_id);
    let twice = tls::issue(dir.path(), "nairobi").unwrap_err();
    assert!(matches!(twice, CertError::Exists { .. }), "{twice}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&issued.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a private key readable by others");
    }
}

#[test]
fn bad_node_names_and_missing_cas_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = tls::issue(dir.path(), "nairobi").unwrap_err();
    assert!(missing.to_string().contains("ca.pem"), "{missing}");
    tls::init_ca(dir.path(), "c").unwrap();
    for name in ["", "../etc", "a b", ".hidden"] {
        let e = tls::issue(dir.path(), name).unwrap_err();
        assert!(matches!(e, CertError::BadName(_)), "{name:?}: {e}");
    }
}

#[test]
fn a_certificate_of_another_ca_does_not_load() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let ca = tls::init_ca(ours.path(), "c").unwrap();
    tls::init_ca(theirs.path(), "c").unwrap();
    let foreign = tls::issue(theirs.path(), "n1").unwrap();
    let e = TlsIdentity::load(&ca.cert, &foreign.cert, &foreign.key).unwrap_err();
    assert!(matches!(e, CertError::NotOfCluster { .. }), "{e}");

    let forged = forge(ours.path(), "n1", uuid::Uuid::new_v4());
    let e = TlsIdentity::load(&ca.cert, &forged.0, &forged.1).unwrap_err();
    assert!(e.to_string().contains("cluster id"), "{e}");

    let garbage = ours.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let e = TlsIdentity::load(&ca.cert, &garbage, &foreign.key).unwrap_err();
    assert!(matches!(e, CertError::Invalid { .. }), "{e}");
}

/// A certificate for `node` signed by the CA in `dir`, but with another cluster id.
fn forge(dir: &Path, node: &str, cluster_id: uuid::Uuid) -> (PathBuf, PathBuf) {
    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca-key.pem")).unwrap())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = tls::node_params(node, cluster_id)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let cert_path = dir.join(format!("forged-{node}.pem"));
    let key_path = dir.join(format!("forged-{node}-key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// A bare QUIC client: trusts `ca`, shows `identity` (or no certificate), offers `alpn`.
fn client(ca: &Path, identity: Option<(&Path, &Path)>, alpn: &[u8]) -> quinn::Endpoint {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(cert).unwrap()],
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(config).unwrap();
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    endpoint
}

/// Connects to `node` as `client` and waits until the node lists a refusal of `kind`
/// whose reason contains `reason`.
async fn refused(node: &Node, client: quinn::Endpoint, kind: &str, reason: &str) {
    let addr = node.addresses().quic;
    let connecting = client.connect(addr, tls::SERVER_NAME).unwrap();
    // The handshake may seem to succeed on the client's side before the server checks the
    // client's certificate; what counts is the node's verdict.
    let conn = connecting.await.ok();
    eventually(&format!("a refusal of kind {kind}"), LIMIT, || async {
        node.status()
            .refusals
            .iter()
            .any(|r| r.kind == kind && r.reason.contains(reason))
    })
    .await;
    if let Some(conn) = conn {
        // The node closed it: a refused connection never becomes a link.
        let closed = tokio::time::timeout(LIMIT, conn.closed()).await;
        assert!(closed.is_ok(), "a refused connection stayed open");
    }
    client.close(0u32.into(), b"done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_peer_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = support::start(dir.path(), "mesh", 2, &options()).await;
    let certs = dir.path().join("cluster/certs");
    let ca = certs.join("ca.pem");
    eventually("the link is up", LIMIT, || async {
        support::all_links_up(&cluster)
    })
    .await;
    // n2 accepts from n1 only (the lower actor id dials).
    let n2 = &cluster.nodes[1];
    let n1_cert = (certs.join("n1.pem"), certs.join("n1-key.pem"));

    refused(
        n2,
        client(&ca, None, tls::ALPN),
        "no_certificate",
        "no client certificate",
    )
    .await;

    let other = tempfile::tempdir().unwrap();
    tls::init_ca(other.path(), "test-mesh-2").unwrap();
    let foreign = tls::issue(other.path(), "n1").unwrap();
    refused(
        n2,
        client(&ca, Some((&foreign.cert, &foreign.key)), tls::ALPN),
        "other_ca",
        "not signed by the cluster CA",
    )
    .await;

    let forged = forge(&certs, "n1", uuid::Uuid::new_v4());
    refused(
        n2,
        client(&ca, Some((&forged.0, &forged.1)), tls::ALPN),
        "other_cluster",
        "is for cluster",
    )
    .await;

    let intruder = tls::issue(&certs, "intruder").unwrap();
    refused(
        n2,
        client(&ca, Some((&intruder.cert, &intruder.key)), tls::ALPN),
        "not_a_neighbour",
        "\"intruder\"",
    )
    .await;

    refused(
        n2,
        client(&ca, Some((&n1_cert.0, &n1_cert.1)), b"h3"),
        "wrong_alpn",
        "no common application protocol",
    )
    .await;

    // None of it disturbed the real link, and each refusal was reported once.
    assert!(support::all_links_up(&cluster));
    let status = n2.status();
    for kind in [
        "no_certificate",
        "other_ca",
        "other_cluster",
        "not_a_neighbour",
        "wrong_alpn",
    ] {
        let n = status.refusals.iter().filter(|r| r.kind == kind).count();
        assert_eq!(n, 1, "{kind}: {:?}", status.refusals);
    }
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialled_address_answering_with_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology(dir.path(), "mesh", 2);
    let configs = cluster::prepare(&topology, &dir.path().join("cluster"), &options()).unwrap();
    let n2_addr = {
        let config = NodeConfig::load(&configs[1]).unwrap();
        config.topology.node(config.id).unwrap().quic
    };
    // At n2's address, a server that shows a valid certificate of the cluster for "n3".
    let certs = dir.path().join("cluster/certs");
    let impostor = tls::issue(&certs, "n3").unwrap();
    let identity = TlsIdentity::load(&certs.join("ca.pem"), &impostor.cert, &impostor.key).unwrap();
    let server = identity
        .server_config(Arc::new(quinn::TransportConfig::default()))
        .unwrap();
    let endpoint = quinn::Endpoint::server(server, n2_addr).unwrap();
    let accepting = tokio::spawn({
        let endpoint = endpoint.clone();
        async move {
            while let Some(incoming) = endpoint.accept().await {
                if let Ok(conn) = incoming.await {
                    // Hold it until n1 closes it.
                    let _ = conn.closed().await;
                }
            }
        }
    });

    let n1 = LocalCluster::start(&configs[..1]).await.unwrap();
    let node = &n1.nodes[0];
    eventually("n1 refuses the impostor", LIMIT, || async {
        node.status()
            .refusals
            .iter()
            .any(|r| r.kind == "wrong_name" && r.reason.contains("\"n3\""))
    })
    .await;
    let link = node
        .status()
        .links
        .into_iter()
        .find(|l| l.peer == "n2")
        .unwrap();
    assert_eq!(link.state, "down");
    assert!(
        link.last_error
            .unwrap_or_default()
            .contains("dialled \"n2\"")
    );
    n1.shutdown().await.unwrap();
    endpoint.close(0u32.into(), b"done");
    accepting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_certificates_and_stores_of_another_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology(dir.path(), "mesh", 2);
    let root = dir.path().join("cluster");
    let configs = cluster::prepare(&topology, &root, &options()).unwrap();

    // A certificate for n2 used by n1's config.
    let mut config = NodeConfig::load(&configs[0]).unwrap();
    config.tls.cert = root.join("certs/n2.pem");
    config.tls.key = root.join("certs/n2-key.pem");
    let e = Node::start(config).await.unwrap_err();
    assert!(matches!(e, StartError::CertForAnotherNode { .. }), "{e}");

    // n1 creates its store under the first CA; the cluster is then re-made with a new CA
    // (a new cluster id) over the same data directories.
    let node = Node::start(NodeConfig::load(&configs[0]).unwrap())
        .await
        .unwrap();
    node.shutdown().await.unwrap();
    std::fs::remove_dir_all(root.join("certs")).unwrap();
    let configs = cluster::prepare(&topology, &root, &options()).unwrap();
    let e = Node::start(NodeConfig::load(&configs[0]).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, StartError::Store { .. }), "{e}");
    assert!(e.to_string().contains("cluster"), "{e}");
}
