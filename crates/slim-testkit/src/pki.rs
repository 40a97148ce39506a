//! A throwaway PKI: a CA, a server certificate for `localhost` / `127.0.0.1`, and a client
//! certificate, written as PEM files into a temporary folder.

use std::path::{Path, PathBuf};

/// The files: `ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`.
#[derive(Debug)]
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// Generates a fresh CA and certificates.
    pub fn new() -> anyhow::Result<TestPki> {
        let dir = tempfile::tempdir()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "slim test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
        std::fs::write(dir.path().join("ca.pem"), ca.pem())?;
        for (stem, names) in [
            (
                "server",
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ),
            ("client", vec!["client.test".to_owned()]),
        ] {
            let key = rcgen::KeyPair::generate()?;
            let cert = rcgen::CertificateParams::new(names)?.signed_by(&key, &ca)?;
            std::fs::write(dir.path().join(format!("{stem}.pem")), cert.pem())?;
            std::fs::write(dir.path().join(format!("{stem}.key")), key.serialize_pem())?;
        }
        Ok(TestPki { dir })
    }

    /// Path of one of the files.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Server entry keys for TLS (`tls: ...`), optionally requiring client certificates.
    pub fn server_tls(&self, mutual: bool) -> String {
        let client_ca = if mutual {
            format!(
                ", client_ca: {{type: file, path: \"{}\"}}",
                self.path("ca.pem").display()
            )
        } else {
            String::new()
        };
        format!(
            "tls: {{source: {{type: file, cert: \"{}\", key: \"{}\"}}{client_ca}}}",
            self.path("server.pem").display(),
            self.path("server.key").display()
        )
    }

    /// Client entry keys for TLS trusting the CA, optionally with the client certificate.
    pub fn client_tls(&self, with_cert: bool) -> String {
        let source = if with_cert {
            format!(
                ", source: {{type: file, cert: \"{}\", key: \"{}\"}}",
                self.path("client.pem").display(),
                self.path("client.key").display()
            )
        } else {
            String::new()
        };
        format!(
            "tls: {{ca_source: {{type: file, path: \"{}\"}}{source}}}",
            self.path("ca.pem").display()
        )
    }
}
