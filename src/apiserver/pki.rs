//! The server's certificates: a cluster CA, the serving certificate and the admin client certificate, all
//! created on first start in the data directory and reused on restart, plus the admin kubeconfig that points
//! stock `kubectl` at the server. Only this module writes key material.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};

/// How long the generated certificates stay valid, in years from the day they are made.
const CERT_VALIDITY_YEARS: i16 = 10;
/// The organisation that makes a client certificate's user a cluster administrator, as upstream.
pub const ADMIN_GROUP: &str = "system:masters";
const ADMIN_USER: &str = "ferrokube-admin";

/// The paths of everything `ensure` keeps in the data directory.
#[derive(Clone, Debug)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub admin_kubeconfig: PathBuf,
}

impl PkiFiles {
    pub fn in_dir(data_dir: &Path) -> Self {
        let tls = data_dir.join("tls");
        Self {
            ca_cert: tls.join("ca.crt"),
            ca_key: tls.join("ca.key"),
            serving_cert: tls.join("serving.crt"),
            serving_key: tls.join("serving.key"),
            admin_cert: tls.join("admin.crt"),
            admin_key: tls.join("admin.key"),
            admin_kubeconfig: data_dir.join("admin.kubeconfig"),
        }
    }
}

/// What the serving certificate must name besides localhost and 127.0.0.1.
#[derive(Clone, Debug)]
pub struct ServingNames {
    pub bind_address: IpAddr,
    pub extra_sans: Vec<String>,
    /// The address written into the kubeconfig: `https://<host>:<port>`.
    pub kubeconfig_server: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot write or read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_path_buf(), source }
}

/// Creates whatever is missing (CA, serving and admin certificates, admin kubeconfig) and leaves the rest.
/// The serving certificate is remade when the names it must carry changed, so a new `--tls-san` takes effect.
pub fn ensure(files: &PkiFiles, names: &ServingNames) -> Result<(), PkiError> {
    let tls_dir = files.ca_cert.parent().expect("certificate paths are inside a directory");
    fs::create_dir_all(tls_dir).map_err(io_error(tls_dir))?;
    if !files.ca_cert.exists() || !files.ca_key.exists() {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name("ferrokube-ca", None);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        set_validity(&mut params);
        let cert = params.self_signed(&key)?;
        write_private(&files.ca_key, &key.serialize_pem())?;
        write_public(&files.ca_cert, &cert.pem())?;
    }
    let ca_key_pem = fs::read_to_string(&files.ca_key).map_err(io_error(&files.ca_key))?;
    let ca_cert_pem = fs::read_to_string(&files.ca_cert).map_err(io_error(&files.ca_cert))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, KeyPair::from_pem(&ca_key_pem)?)?;

    let sans = serving_sans(names);
    let sans_record = files.serving_cert.with_extension("sans");
    let recorded_sans = fs::read_to_string(&sans_record).unwrap_or_default();
    if !files.serving_cert.exists() || recorded_sans != sans.join("\n") {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = sans.iter().map(|san| san_type(san)).collect::<Result<_, _>>()?;
        params.distinguished_name = distinguished_name("ferrokube-apiserver", None);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params);
        let cert = params.signed_by(&key, &issuer)?;
        write_private(&files.serving_key, &key.serialize_pem())?;
        write_public(&files.serving_cert, &cert.pem())?;
        write_public(&sans_record, &sans.join("\n"))?;
    }

    if !files.admin_cert.exists() || !files.admin_key.exists() {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(ADMIN_USER, Some(ADMIN_GROUP));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        set_validity(&mut params);
        let cert = params.signed_by(&key, &issuer)?;
        write_private(&files.admin_key, &key.serialize_pem())?;
        write_public(&files.admin_cert, &cert.pem())?;
    }

    let admin_cert = fs::read(&files.admin_cert).map_err(io_error(&files.admin_cert))?;
    let admin_key = fs::read(&files.admin_key).map_err(io_error(&files.admin_key))?;
    let kubeconfig = admin_kubeconfig(&names.kubeconfig_server, ca_cert_pem.as_bytes(), &admin_cert, &admin_key);
    write_private(&files.admin_kubeconfig, &kubeconfig)
}

fn serving_sans(names: &ServingNames) -> Vec<String> {
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
    ];
    if let Ok(host) = hostname::get() {
        sans.push(host.to_string_lossy().into_owned());
    }
    if !names.bind_address.is_unspecified() {
        sans.push(names.bind_address.to_string());
    }
    sans.extend(names.extra_sans.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    sans.retain(|san| seen.insert(san.clone()));
    sans
}

fn san_type(san: &str) -> Result<SanType, rcgen::Error> {
    Ok(match san.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(san.try_into()?),
    })
}

fn distinguished_name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        name.push(DnType::OrganizationName, organization);
    }
    name
}

fn set_validity(params: &mut CertificateParams) {
    let today = jiff::Zoned::now().date();
    // A day of slack before now tolerates clients whose clocks run a little behind.
    let start = today.yesterday().unwrap_or(today);
    params.not_before = rcgen::date_time_ymd(start.year().into(), start.month() as u8, start.day() as u8);
    params.not_after = rcgen::date_time_ymd((start.year() + CERT_VALIDITY_YEARS).into(), start.month() as u8, start.day().min(28) as u8);
}

fn admin_kubeconfig(server: &str, ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> String {
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferrokube\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: ferrokube-admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: ferrokube\n  context:\n    cluster: ferrokube\n    user: ferrokube-admin\n    namespace: default\ncurrent-context: ferrokube\n",
        ca = encode(ca_pem),
        cert = encode(cert_pem),
        key = encode(key_pem),
    )
}

fn write_public(path: &Path, contents: &str) -> Result<(), PkiError> {
    fs::write(path, contents).map_err(io_error(path))
}

fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path).map_err(io_error(path))?;
    file.write_all(contents.as_bytes()).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_reuses_certificates_and_new_san_reissues_serving_cert() {
        let dir = tempfile::tempdir().unwrap();
        let files = PkiFiles::in_dir(dir.path());
        let mut names = ServingNames {
            bind_address: "0.0.0.0".parse().unwrap(),
            extra_sans: vec![],
            kubeconfig_server: "https://127.0.0.1:6443".into(),
        };
        ensure(&files, &names).unwrap();
        let ca = fs::read(&files.ca_cert).unwrap();
        let serving = fs::read(&files.serving_cert).unwrap();
        ensure(&files, &names).unwrap();
        assert_eq!(fs::read(&files.ca_cert).unwrap(), ca);
        assert_eq!(fs::read(&files.serving_cert).unwrap(), serving);
        names.extra_sans.push("api.example.test".into());
        ensure(&files, &names).unwrap();
        assert_eq!(fs::read(&files.ca_cert).unwrap(), ca);
        assert_ne!(fs::read(&files.serving_cert).unwrap(), serving);
        let kubeconfig = fs::read_to_string(&files.admin_kubeconfig).unwrap();
        assert!(kubeconfig.contains("server: https://127.0.0.1:6443"));
    }
}
