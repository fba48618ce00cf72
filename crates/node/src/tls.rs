//! Mutual TLS for links: a cluster CA, one certificate per node, and the checks a link
//! passes before it carries a frame.
//!
//! The CA certificate and every node certificate carry the cluster id as a URI subject
//! alternative name (`urn:meridian:cluster:<uuid>`); a node certificate names its node in
//! the subject common name and carries the DNS name [`SERVER_NAME`], which every dialler asks
//! for, so that node names need not be DNS names. rustls checks the chain to the cluster CA
//! in both directions and the ALPN; [`check_peer`] then checks the cluster id and the name.
//! Every failure becomes a [`Refusal`] with a short kind for logs and status.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use quinn::VarInt;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use thiserror::Error;
use uuid::Uuid;

/// The ALPN of Meridian's replication protocol.
pub const ALPN: &[u8] = b"meridian/1";
/// The DNS name in every node certificate, and the server name every dialler asks for.
pub const SERVER_NAME: &str = "meridian-node";
/// How the cluster id is written in a certificate's URI subject alternative name.
const CLUSTER_URI_PREFIX: &str = "urn:meridian:cluster:";

/// The file names in a certificate directory.
fn ca_cert_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}
fn ca_key_path(dir: &Path) -> PathBuf {
    dir.join("ca-key.pem")
}
fn node_cert_path(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("{node}.pem"))
}
fn node_key_path(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("{node}-key.pem"))
}

/// Certificates that cannot be made, read or used. Nothing was overwritten.
#[derive(Debug, Error)]
pub enum CertError {
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file that `init` or `issue` would write exists already.
    #[error("{path} exists already; remove it first to replace it")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file holds no usable PEM certificate or key, or the certificate lacks a field.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The node certificate is not signed by the CA, or is of another cluster.
    #[error("{cert} does not belong to the cluster of {ca}: {message}")]
    NotOfCluster {
        /// The node certificate.
        cert: PathBuf,
        /// The CA certificate.
        ca: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A node name that cannot be put in a certificate or a file name.
    #[error("{0:?} is not a node name (letters, digits, '-', '_' and '.', not starting with '.')")]
    BadName(String),
    /// Key generation, signing or the TLS configuration failed.
    #[error("{0}")]
    Crypto(String),
}

fn crypto(e: impl fmt::Display) -> CertError {
    CertError::Crypto(e.to_string())
}

/// What `init_ca` made.
#[derive(Debug, Clone)]
pub struct CaSummary {
    /// The CA certificate.
    pub cert: PathBuf,
    /// The CA's private key: keep it off the nodes.
    pub key: PathBuf,
    /// The cluster's name.
    pub cluster: String,
    /// The cluster's id.
    pub cluster_id: Uuid,
}

impl fmt::Display for CaSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cluster {} (id {}): CA certificate {}, CA key {} (keep the key off the nodes)",
            self.cluster,
            self.cluster_id,
            self.cert.display(),
            self.key.display()
        )
    }
}

/// What `issue` made.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The node's name.
    pub node: String,
    /// Its certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The cluster id it carries.
    pub cluster_id: Uuid,
}

impl fmt::Display for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} of cluster {}: certificate {}, key {}",
            self.node,
            self.cluster_id,
            self.cert.display(),
            self.key.display()
        )
    }
}

/// Creates a cluster CA in `dir` (`ca.pem`, `ca-key.pem`) with a new cluster id. Never
/// overwrites a CA.
pub fn init_ca(dir: &Path, cluster: &str) -> Result<CaSummary, CertError> {
    let cert_path = ca_cert_path(dir);
    let key_path = ca_key_path(dir);
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(CertError::Exists { path: path.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let cluster_id = Uuid::new_v4();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("Meridian cluster CA {cluster}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, cluster.to_owned());
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![cluster_uri(cluster_id)?];
    let key = KeyPair::generate().map_err(crypto)?;
    let cert = params.self_signed(&key).map_err(crypto)?;
    // The key first: a CA certificate without its key would block a second `init`.
    write_new(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_new(&cert_path, cert.pem().as_bytes(), false)?;
    Ok(CaSummary {
        cert: cert_path,
        key: key_path,
        cluster: cluster.to_owned(),
        cluster_id,
    })
}

/// Issues a certificate for `node` signed by the CA in `dir`, carrying the CA's cluster id
/// (`NODE.pem`, `NODE-key.pem`). Never overwrites one.
pub fn issue(dir: &Path, node: &str) -> Result<IssuedCert, CertError> {
    let valid_name = !node.is_empty()
        && !node.starts_with('.')
        && node.len() <= 64
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(CertError::BadName(node.to_owned()));
    }
    let ca_path = ca_cert_path(dir);
    let ca_pem = read_text(&ca_path)?;
    let ca_der =
        CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| invalid(&ca_path, e))?;
    let cluster_id = parse_cert(&ca_der)
        .map_err(|m| invalid(&ca_path, m))?
        .cluster_id
        .ok_or_else(|| invalid(&ca_path, "the CA certificate carries no cluster id"))?;
    let ca_key_file = ca_key_path(dir);
    let ca_key =
        KeyPair::from_pem(&read_text(&ca_key_file)?).map_err(|e| invalid(&ca_key_file, e))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| invalid(&ca_path, e))?;

    let cert_path = node_cert_path(dir, node);
    let key_path = node_key_path(dir, node);
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(CertError::Exists { path: path.clone() });
        }
    }
    let params = node_params(node, cluster_id)?;
    let key = KeyPair::generate().map_err(crypto)?;
    let cert = params.signed_by(&key, &issuer).map_err(crypto)?;
    write_new(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_new(&cert_path, cert.pem().as_bytes(), false)?;
    Ok(IssuedCert {
        node: node.to_owned(),
        cert: cert_path,
        key: key_path,
        cluster_id,
    })
}

/// The parameters of a node certificate: the node's name, the dialled server name, the
/// cluster id, usable as TLS client and server.
pub fn node_params(node: &str, cluster_id: Uuid) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, node.to_owned());
    let dns = SERVER_NAME.try_into().map_err(crypto)?;
    params.subject_alt_names = vec![SanType::DnsName(dns), cluster_uri(cluster_id)?];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn cluster_uri(id: Uuid) -> Result<SanType, CertError> {
    let uri = format!("{CLUSTER_URI_PREFIX}{}", id.hyphenated());
    Ok(SanType::URI(uri.as_str().try_into().map_err(crypto)?))
}

fn write_new(path: &Path, contents: &[u8], secret: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            CertError::Exists {
                path: path.to_owned(),
            }
        } else {
            io(source)
        }
    })?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

fn read_text(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_owned(),
        source,
    })
}

fn invalid(path: &Path, message: impl fmt::Display) -> CertError {
    CertError::Invalid {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// What a certificate says of its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// The subject common name: the node's name.
    pub node: String,
    /// The cluster id, if the certificate carries one.
    pub cluster_id: Option<Uuid>,
}

fn parse_cert(der: &CertificateDer<'_>) -> Result<PeerCert, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let node = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or("the certificate has no subject common name")?
        .to_owned();
    let mut cluster_id = None;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(uri) = name
                && let Some(id) = uri.strip_prefix(CLUSTER_URI_PREFIX)
            {
                cluster_id =
                    Some(Uuid::parse_str(id).map_err(|e| format!("bad cluster id {id:?}: {e}"))?);
            }
        }
    }
    Ok(PeerCert { node, cluster_id })
}

/// A node's own certificate, key and cluster CA, checked against each other.
pub struct TlsIdentity {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    node: String,
    cluster_id: Uuid,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("node", &self.node)
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Reads the CA certificate, the node's certificate and its key, and checks that the
    /// certificate is signed by the CA and carries the CA's cluster id.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<TlsIdentity, CertError> {
        let ca_der = CertificateDer::from_pem_slice(read_text(ca)?.as_bytes())
            .map_err(|e| invalid(ca, e))?;
        let chain = CertificateDer::pem_slice_iter(read_text(cert)?.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(cert, e))?;
        let Some(own) = chain.first() else {
            return Err(invalid(cert, "no certificate in the file"));
        };
        let own_info = parse_cert(own).map_err(|m| invalid(cert, m))?;
        let key_der = PrivateKeyDer::from_pem_slice(read_text(key)?.as_bytes())
            .map_err(|e| invalid(key, e))?;
        let ca_info = parse_cert(&ca_der).map_err(|m| invalid(ca, m))?;
        let ca_cluster = ca_info
            .cluster_id
            .ok_or_else(|| invalid(ca, "the CA certificate carries no cluster id"))?;
        let not_of_cluster = |message: String| CertError::NotOfCluster {
            cert: cert.to_owned(),
            ca: ca.to_owned(),
            message,
        };
        match own_info.cluster_id {
            Some(id) if id == ca_cluster => {}
            Some(id) => {
                return Err(not_of_cluster(format!(
                    "it carries cluster id {id}, the CA {ca_cluster}"
                )));
            }
            None => return Err(not_of_cluster("it carries no cluster id".to_owned())),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let identity = TlsIdentity {
            ca: ca_der,
            chain,
            key: key_der,
            node: own_info.node,
            cluster_id: ca_cluster,
            provider,
        };
        // Our own certificate must pass the check every peer will make of it.
        let verifier = identity.client_verifier()?;
        verifier
            .verify_client_cert(&identity.chain[0], &identity.chain[1..], UnixTime::now())
            .map_err(|e| not_of_cluster(e.to_string()))?;
        Ok(identity)
    }

    /// The node named by the certificate.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The cluster id of the CA and the certificate.
    pub fn cluster_id(&self) -> Uuid {
        self.cluster_id
    }

    /// The endpoint's stateless-reset key and connection-id check key, derived from the
    /// node's private key so that they survive a restart: packets of a connection that a
    /// crash cut off are then recognised by the restarted node and answered with a reset
    /// that the peer accepts, so it redials at once instead of waiting for its idle timeout.
    pub fn endpoint_config(&self) -> quinn::EndpointConfig {
        let derive = |purpose: &[u8]| {
            let mut context = ring::digest::Context::new(&ring::digest::SHA256);
            context.update(b"meridian endpoint key v1 ");
            context.update(purpose);
            context.update(self.key.secret_der());
            context.finish()
        };
        let reset = derive(b"stateless reset");
        let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            reset.as_ref(),
        )));
        let cid = derive(b"connection id");
        let mut cid_key = [0u8; 8];
        cid_key.copy_from_slice(&cid.as_ref()[..8]);
        let cid_key = u64::from_le_bytes(cid_key);
        config.cid_generator(move || {
            Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
        });
        config
    }

    fn roots(&self) -> Result<RootCertStore, CertError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).map_err(crypto)?;
        Ok(roots)
    }

    fn client_verifier(
        &self,
    ) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, CertError> {
        WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.roots()?),
            Arc::clone(&self.provider),
        )
        .build()
        .map_err(crypto)
    }

    /// The endpoint's server side: a client certificate of the cluster CA is required.
    pub fn server_config(
        &self,
        transport: Arc<quinn::TransportConfig>,
    ) -> Result<quinn::ServerConfig, CertError> {
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(crypto)?
            .with_client_cert_verifier(self.client_verifier()?)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(crypto)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = QuicServerConfig::try_from(tls).map_err(crypto)?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
        config.transport_config(transport);
        Ok(config)
    }

    /// The endpoint's client side: the peer must show a certificate of the cluster CA.
    pub fn client_config(
        &self,
        transport: Arc<quinn::TransportConfig>,
    ) -> Result<quinn::ClientConfig, CertError> {
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(crypto)?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(crypto)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = QuicClientConfig::try_from(tls).map_err(crypto)?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        config.transport_config(transport);
        Ok(config)
    }
}

/// Why a connection did not become a link.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The peer showed no certificate.
    #[error("{0}no client certificate was presented")]
    NoCertificate(Side),
    /// The peer's certificate is not signed by this cluster's CA.
    #[error("{side}the certificate is not signed by the cluster CA: {detail}")]
    OtherCa {
        /// Who refused.
        side: Side,
        /// What TLS said.
        detail: String,
    },
    /// The peer does not speak `meridian/1`.
    #[error(
        "{side}no common application protocol (ALPN {}): {detail}",
        String::from_utf8_lossy(ALPN)
    )]
    WrongAlpn {
        /// Who refused.
        side: Side,
        /// What TLS said.
        detail: String,
    },
    /// The certificate is malformed, expired, or lacks a field Meridian needs.
    #[error("{side}bad certificate: {detail}")]
    BadCertificate {
        /// Who refused.
        side: Side,
        /// What is wrong.
        detail: String,
    },
    /// The certificate is of the CA but carries another cluster id.
    #[error("{side}the certificate of {node:?} is for cluster {found}, this cluster is {expected}")]
    OtherCluster {
        /// Who refused.
        side: Side,
        /// The certificate's node.
        node: String,
        /// The certificate's cluster id.
        found: String,
        /// Ours.
        expected: String,
    },
    /// The dialled peer's certificate names another node.
    #[error("dialled {expected:?}, but the certificate there is for {found:?}")]
    WrongName {
        /// The node dialled.
        expected: String,
        /// The node the certificate names.
        found: String,
    },
    /// The certificate names a node that is not a neighbour allowed to dial this node.
    #[error("{node:?} is not a neighbour with a lower actor id in the topology")]
    NotANeighbour {
        /// The certificate's node.
        node: String,
    },
    /// The peer checked this node's certificate and refused it after the handshake.
    #[error("refused by the peer: {0}")]
    RefusedByPeer(String),
    /// Anything else before the link was up (unreachable, timed out, closed).
    #[error("{0}")]
    Handshake(String),
}

/// Who refused: this node, or the peer (as it said when it closed the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This node refused.
    Local,
    /// The peer refused this node.
    Peer,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Side::Local => Ok(()),
            Side::Peer => f.write_str("refused by the peer: "),
        }
    }
}

/// Application close codes of refusals made after the TLS handshake.
const CODE_OTHER_CLUSTER: u32 = 0x200;
const CODE_WRONG_NAME: u32 = 0x201;
const CODE_NOT_A_NEIGHBOUR: u32 = 0x202;
const CODE_BAD_CERTIFICATE: u32 = 0x203;
const CODE_REFUSED: u32 = 0x204;

/// TLS alerts (RFC 8446) that quinn carries as `0x100 | alert`.
const ALERT_BAD_CERTIFICATE: u8 = 42;
const ALERT_UNSUPPORTED_CERTIFICATE: u8 = 43;
const ALERT_CERTIFICATE_EXPIRED: u8 = 45;
const ALERT_UNKNOWN_CA: u8 = 48;
const ALERT_DECRYPT_ERROR: u8 = 51;
const ALERT_CERTIFICATE_REQUIRED: u8 = 116;
const ALERT_NO_APPLICATION_PROTOCOL: u8 = 120;

impl Refusal {
    /// A short label for logs, status and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::NoCertificate(_) => "no_certificate",
            Refusal::OtherCa { .. } => "other_ca",
            Refusal::WrongAlpn { .. } => "wrong_alpn",
            Refusal::BadCertificate { .. } => "bad_certificate",
            Refusal::OtherCluster { .. } => "other_cluster",
            Refusal::WrongName { .. } => "wrong_name",
            Refusal::NotANeighbour { .. } => "not_a_neighbour",
            Refusal::RefusedByPeer(_) => "refused_by_peer",
            Refusal::Handshake(_) => "handshake",
        }
    }

    /// The application close code sent with a refusal made after the handshake.
    pub fn code(&self) -> VarInt {
        VarInt::from_u32(match self {
            Refusal::OtherCluster { .. } => CODE_OTHER_CLUSTER,
            Refusal::WrongName { .. } => CODE_WRONG_NAME,
            Refusal::NotANeighbour { .. } => CODE_NOT_A_NEIGHBOUR,
            Refusal::BadCertificate { .. } => CODE_BAD_CERTIFICATE,
            _ => CODE_REFUSED,
        })
    }
}

/// Classifies a connection that failed before it was up: a TLS alert raised here or sent
/// by the peer, a refusal the peer made after the handshake, or anything else.
pub fn refusal_from_connection_error(error: &quinn::ConnectionError) -> Refusal {
    match error {
        quinn::ConnectionError::TransportError(e) => {
            from_tls(Side::Local, u64::from(e.code), &e.reason)
                .unwrap_or_else(|| Refusal::Handshake(error.to_string()))
        }
        quinn::ConnectionError::ConnectionClosed(close) => {
            let reason = String::from_utf8_lossy(&close.reason);
            from_tls(Side::Peer, u64::from(close.error_code), &reason)
                .unwrap_or_else(|| Refusal::Handshake(error.to_string()))
        }
        quinn::ConnectionError::ApplicationClosed(close) => {
            let code = u32::try_from(close.error_code.into_inner()).unwrap_or(0);
            if (CODE_OTHER_CLUSTER..=CODE_REFUSED).contains(&code) {
                Refusal::RefusedByPeer(String::from_utf8_lossy(&close.reason).into_owned())
            } else {
                Refusal::Handshake(error.to_string())
            }
        }
        _ => Refusal::Handshake(error.to_string()),
    }
}

fn from_tls(side: Side, code: u64, reason: &str) -> Option<Refusal> {
    let alert = code.checked_sub(0x100).and_then(|a| u8::try_from(a).ok())?;
    let detail = reason.to_owned();
    Some(match alert {
        ALERT_CERTIFICATE_REQUIRED => Refusal::NoCertificate(side),
        ALERT_UNKNOWN_CA | ALERT_DECRYPT_ERROR => Refusal::OtherCa { side, detail },
        ALERT_NO_APPLICATION_PROTOCOL => Refusal::WrongAlpn { side, detail },
        ALERT_BAD_CERTIFICATE | ALERT_UNSUPPORTED_CERTIFICATE | ALERT_CERTIFICATE_EXPIRED => {
            Refusal::BadCertificate { side, detail }
        }
        _ => return None,
    })
}

/// The peer's certificate on an established connection, and a check of its ALPN.
pub fn peer_cert(conn: &quinn::Connection) -> Result<PeerCert, Refusal> {
    let alpn = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol);
    if alpn.as_deref() != Some(ALPN) {
        return Err(Refusal::WrongAlpn {
            side: Side::Local,
            detail: format!(
                "negotiated {:?}",
                alpn.map(|a| String::from_utf8_lossy(&a).into_owned())
            ),
        });
    }
    let chain = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or(Refusal::NoCertificate(Side::Local))?;
    let first = chain.first().ok_or(Refusal::NoCertificate(Side::Local))?;
    parse_cert(first).map_err(|detail| Refusal::BadCertificate {
        side: Side::Local,
        detail,
    })
}

/// Checks a peer's certificate (already chained to the CA by TLS): our cluster id, and when
/// dialling, the name of the node dialled.
pub fn check_peer(cert: &PeerCert, cluster_id: Uuid, dialled: Option<&str>) -> Result<(), Refusal> {
    match cert.cluster_id {
        Some(id) if id == cluster_id => {}
        Some(id) => {
            return Err(Refusal::OtherCluster {
                side: Side::Local,
                node: cert.node.clone(),
                found: id.to_string(),
                expected: cluster_id.to_string(),
            });
        }
        None => {
            return Err(Refusal::BadCertificate {
                side: Side::Local,
                detail: format!("the certificate of {:?} carries no cluster id", cert.node),
            });
        }
    }
    match dialled {
        Some(expected) if expected != cert.node => Err(Refusal::WrongName {
            expected: expected.to_owned(),
            found: cert.node.clone(),
        }),
        _ => Ok(()),
    }
}
