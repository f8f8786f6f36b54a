//! Connecting to a shared PostgreSQL history as libpq does: TLS by `sslmode` (`disable`, `allow`, `prefer` (the
//! default), `require`, `verify-ca`, `verify-full`) and `sslrootcert`, from the URL or `PGSSLMODE`/`PGSSLROOTCERT`;
//! the password from the URL, else `PGPASSWORD`, else the password file (`PGPASSFILE`, default `~/.pgpass`, ignored
//! unless only its owner can read it); and `service=NAME` entries of `pg_service.conf` (`PGSERVICEFILE`, default
//! `~/.pg_service.conf`, then `$PGSYSCONFDIR/pg_service.conf`). So a URL on a command line never needs a password.
//!
//! TLS is rustls (ring provider). As in libpq, `prefer` and `require` encrypt without checking the certificate
//! (`require` checks the chain when a root certificate file is given or exists), `verify-ca` checks the chain
//! against the root certificates, `verify-full` checks the chain and the host name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(match text {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => bail!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full (libpq's modes)"
            ),
        })
    }

    fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyFull)
    }
}

/// A connection ready to open: the driver's config (no libpq-only options left in it), the TLS mode and roots.
pub struct Target {
    pub config: postgres::Config,
    pub sslmode: SslMode,
    pub root_cert: Option<PathBuf>,
    /// Where the password came from, for messages (`the URL`, `PGPASSWORD`, `~/.pgpass`, …; none: no password).
    pub password_source: Option<String>,
}

/// The options etbench reads itself; the driver does not know them (or knows fewer of their values).
const OWN_OPTIONS: [&str; 3] = ["sslmode", "sslrootcert", "service"];

/// Reads a `postgres://` URL (or `service=NAME`) into a [`Target`], with libpq's environment and files.
pub fn target(url: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Target> {
    let (url, own) = split_own_options(url)?;
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| anyhow::anyhow!("not a valid PostgreSQL URL ({e}); write postgres://USER@HOST:PORT/DATABASE"))?;
    let service = own.iter().find(|(k, _)| k == "service").map(|(_, v)| v.clone()).or_else(|| env("PGSERVICE"));
    let mut from_service: Vec<(String, String)> = Vec::new();
    if let Some(name) = &service {
        from_service = service_entry(name, env)?;
        apply_service(&mut config, &from_service)?;
    }
    let pick = |key: &str, var: &str| {
        own.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| from_service.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .or_else(|| env(var))
    };
    let sslmode = SslMode::parse(&pick("sslmode", "PGSSLMODE").unwrap_or_else(|| "prefer".into()))?;
    let home = env("HOME").map(PathBuf::from);
    let root_cert = match pick("sslrootcert", "PGSSLROOTCERT") {
        Some(path) => Some(PathBuf::from(path)),
        None => home.as_ref().map(|h| h.join(".postgresql/root.crt")).filter(|p| p.is_file()),
    };
    if sslmode.verifies() && root_cert.is_none() {
        bail!(
            "sslmode={} needs the root certificate that signed the server's: pass sslrootcert=/path/to/ca.pem in the URL (or PGSSLROOTCERT), or put it at ~/.postgresql/root.crt",
            if sslmode == SslMode::VerifyCa { "verify-ca" } else { "verify-full" }
        );
    }
    let mut password_source = config.get_password().map(|_| "the URL".to_owned());
    if password_source.is_none() {
        if let Some(pw) = from_service.iter().find(|(k, _)| k == "password").map(|(_, v)| v.clone()) {
            config.password(pw);
            password_source = Some(format!("service {}", service.as_deref().unwrap_or_default()));
        } else if let Some(pw) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
            config.password(pw);
            password_source = Some("PGPASSWORD".into());
        } else if let Some((pw, file)) = password_file(&config, env)? {
            config.password(pw);
            password_source = Some(file);
        }
    }
    config.ssl_mode(match sslmode {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => postgres::config::SslMode::Prefer,
        _ => postgres::config::SslMode::Require,
    });
    Ok(Target { config, sslmode, root_cert, password_source })
}

/// A `key=value` option.
type Pair = (String, String);

/// The URL without etbench's own options, and those options.
fn split_own_options(text: &str) -> anyhow::Result<(String, Vec<(String, String)>)> {
    if let Some(name) = text.strip_prefix("service=") {
        return Ok(("postgres://".into(), vec![("service".into(), name.trim().to_owned())]));
    }
    let mut url = url::Url::parse(text).map_err(|e| anyhow::anyhow!("not a valid PostgreSQL URL ({e})"))?;
    let (own, rest): (Vec<Pair>, Vec<Pair>) = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .partition(|(k, _)| OWN_OPTIONS.contains(&k.as_str()));
    if rest.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(rest);
    }
    Ok((url.to_string(), own))
}

/// The `[name]` section of the service file: `PGSERVICEFILE` (default `~/.pg_service.conf`), then
/// `$PGSYSCONFDIR/pg_service.conf`, as libpq looks them up.
fn service_entry(name: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Vec<(String, String)>> {
    let user_file =
        env("PGSERVICEFILE").map(PathBuf::from).or_else(|| env("HOME").map(|h| Path::new(&h).join(".pg_service.conf")));
    let system_file = env("PGSYSCONFDIR").map(|d| Path::new(&d).join("pg_service.conf"));
    let files: Vec<PathBuf> = user_file.into_iter().chain(system_file).filter(|p| p.is_file()).collect();
    for file in &files {
        let ini = ini::Ini::load_from_file(file)
            .with_context(|| format!("service file {} is not readable as an INI file", file.display()))?;
        if let Some(section) = ini.section(Some(name)) {
            return Ok(section.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect());
        }
    }
    let looked: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    bail!(
        "service={name}: no [{name}] section in {}; define it there (host, port, dbname, user) or set PGSERVICEFILE",
        if looked.is_empty() {
            "any service file (~/.pg_service.conf, PGSERVICEFILE)".to_owned()
        } else {
            looked.join(", ")
        }
    )
}

fn apply_service(config: &mut postgres::Config, entry: &[(String, String)]) -> anyhow::Result<()> {
    for (key, value) in entry {
        match key.as_str() {
            "host" if config.get_hosts().is_empty() => {
                config.host(value);
            }
            "port" if config.get_ports().is_empty() => {
                config.port(value.parse().with_context(|| format!("service file: port={value} is not a port"))?);
            }
            "dbname" if config.get_dbname().is_none() => {
                config.dbname(value);
            }
            "user" if config.get_user().is_none() => {
                config.user(value);
            }
            "hostaddr" => {
                config.hostaddr(value.parse().with_context(|| format!("service file: hostaddr={value} is not an IP"))?);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The password of the first matching line of the password file (`host:port:database:user:password`, `*` matches
/// anything, `\` escapes `:` and `\`). A file that others may read is ignored with libpq's warning.
fn password_file(
    config: &postgres::Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(String, String)>> {
    let (path, shown) = match env("PGPASSFILE") {
        Some(p) => (PathBuf::from(&p), p),
        None => match env("HOME") {
            Some(h) => (Path::new(&h).join(".pgpass"), "~/.pgpass".to_owned()),
            None => return Ok(None),
        },
    };
    let Ok(meta) = std::fs::metadata(&path) else { return Ok(None) };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "etbench: WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less (ignored)",
                path.display()
            );
            return Ok(None);
        }
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading the password file {}", path.display()))?;
    let host = host_names(config).into_iter().next().unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = config.get_user().unwrap_or_default().to_owned();
    let db = config.get_dbname().map(str::to_owned).unwrap_or_else(|| user.clone());
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()) {
        let fields = pgpass_fields(line);
        let [h, p, d, u, pw] = &fields[..] else { continue };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(h, &host) && matches(p, &port) && matches(d, &db) && matches(u, &user) {
            return Ok(Some((pw.clone(), shown)));
        }
    }
    Ok(None)
}

fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().expect("one field").extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

/// The hosts of a connection as people (and the password file) name them: a name or address, or a socket directory.
pub fn host_names(config: &postgres::Config) -> Vec<String> {
    config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect()
}

/// Opens the connection with TLS as `target` says. `Err` carries the driver's error for the caller's message.
pub fn connect(target: &Target) -> Result<postgres::Client, postgres::Error> {
    if target.sslmode == SslMode::Disable {
        return target.config.connect(postgres::NoTls);
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(target));
    target.config.connect(tls)
}

/// What a TLS failure means and how to fix it, for the connection error message.
pub fn tls_hint(target: &Target, cause: &str) -> Option<String> {
    let root = target.root_cert.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    if cause.contains("NotValidForName") || cause.contains("not valid for name") {
        return Some(format!(
            "the server's certificate is not valid for this host name (sslmode=verify-full checks it): connect by a name the certificate lists, or use sslmode=verify-ca to check only the chain against {root}"
        ));
    }
    if cause.contains("UnknownIssuer") || cause.contains("BadSignature") || cause.contains("invalid peer certificate") {
        return Some(format!(
            "the server's certificate is not signed by the root certificate {root}: pass the CA that signed it as sslrootcert"
        ));
    }
    if cause.contains("server does not support TLS") || cause.contains("does not support TLS") {
        return Some(
            "the server does not offer TLS but sslmode requires it: turn on ssl in the server's postgresql.conf, or use sslmode=prefer or disable on a trusted network"
                .into(),
        );
    }
    None
}

fn client_config(target: &Target) -> rustls::ClientConfig {
    // ring needs no cmake (aws-lc-rs would); it has no post-quantum key exchange, which PostgreSQL does not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions");
    let roots = target.root_cert.as_deref().map(load_roots);
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match (target.sslmode, roots) {
        (SslMode::VerifyFull, Some(Ok(roots))) => webpki(roots, &provider),
        (SslMode::VerifyCa | SslMode::Require, Some(Ok(roots))) => {
            Arc::new(ChainOnly { inner: webpki(roots, &provider) })
        }
        // A root file that cannot be read under verify-*: nothing is trusted, the handshake fails naming it.
        (SslMode::VerifyCa | SslMode::VerifyFull, _) => webpki(rustls::RootCertStore::empty(), &provider),
        _ => Arc::new(Fixed { provider, accept: true }),
    };
    builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()
}

fn webpki(
    roots: rustls::RootCertStore,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Arc<dyn rustls::client::danger::ServerCertVerifier> {
    match rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build() {
        Ok(v) => v,
        // An empty store cannot build a verifier: one that refuses everything stands in.
        Err(_) => Arc::new(Fixed { provider: provider.clone(), accept: false }),
    }
}

fn load_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut store = rustls::RootCertStore::empty();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| e.to_string())?;
    for cert in certs {
        store.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    Ok(store)
}

type Verified = Result<rustls::client::danger::ServerCertVerified, rustls::Error>;
type SigVerified = Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>;

/// A verifier whose answer does not depend on the certificate: `accept` for `prefer` / `require` without a root
/// certificate (encrypted, the certificate not checked: libpq's meaning); refuse for verify-* with an unreadable root.
#[derive(Debug)]
struct Fixed {
    provider: Arc<rustls::crypto::CryptoProvider>,
    accept: bool,
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<dyn rustls::client::danger::ServerCertVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for Fixed {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Verified {
        if self.accept {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> SigVerified {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> SigVerified {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Verified {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })) => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> SigVerified {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> SigVerified {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn libpq_options_are_taken_out_of_the_url_and_read() {
        let t = target("postgres://u@h:5/d?sslmode=require&application_name=x", &env_of(&[])).unwrap();
        assert_eq!(t.sslmode, SslMode::Require);
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(target("postgres://u@h/d", &env_of(&[])).unwrap().sslmode, SslMode::Prefer);
        assert_eq!(target("postgres://u@h/d", &env_of(&[("PGSSLMODE", "disable")])).unwrap().sslmode, SslMode::Disable);
        let err = target("postgres://u@h/d?sslmode=verify-full", &env_of(&[])).err().unwrap().to_string();
        assert!(err.contains("sslrootcert"), "{err}");
        assert!(target("postgres://u@h/d?sslmode=sometimes", &env_of(&[])).is_err());
    }

    #[test]
    fn the_password_comes_from_the_url_then_pgpassword_then_the_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "# comment\nother:*:*:*:no\nh:5432:d:u:from\\:file\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let f = file.to_str().unwrap();
        let pw = |url: &str, env: &[(&str, &str)]| {
            let t = target(url, &env_of(env)).unwrap();
            (t.config.get_password().map(|p| String::from_utf8_lossy(p).into_owned()), t.password_source)
        };
        assert_eq!(pw("postgres://u:inurl@h/d", &[("PGPASSWORD", "env")]).0.as_deref(), Some("inurl"));
        assert_eq!(pw("postgres://u@h/d", &[("PGPASSWORD", "env"), ("PGPASSFILE", f)]).0.as_deref(), Some("env"));
        assert_eq!(pw("postgres://u@h/d", &[("PGPASSFILE", f)]), (Some("from:file".into()), Some(f.into())));
        assert_eq!(pw("postgres://u@h:6/d", &[("PGPASSFILE", f)]).0, None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(pw("postgres://u@h/d", &[("PGPASSFILE", f)]).0, None, "a readable file is ignored");
        }
    }

    #[test]
    fn a_service_entry_fills_host_port_database_user_and_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pg_service.conf");
        std::fs::write(&file, "[nightly]\nhost=db.lab\nport=6543\ndbname=hist\nuser=bench\nsslmode=require\n").unwrap();
        let env = [("PGSERVICEFILE", file.to_str().unwrap()), ("PGPASSWORD", "pw")];
        let t = target("service=nightly", &env_of(&env)).unwrap();
        assert_eq!(t.config.get_ports(), [6543]);
        assert_eq!(t.config.get_dbname(), Some("hist"));
        assert_eq!(t.config.get_user(), Some("bench"));
        assert_eq!(t.sslmode, SslMode::Require);
        let t = target("postgres://?service=nightly", &env_of(&env)).unwrap();
        assert_eq!(t.config.get_dbname(), Some("hist"));
        let err = target("service=nope", &env_of(&env)).err().unwrap().to_string();
        assert!(err.contains("[nope]"), "{err}");
    }
}
