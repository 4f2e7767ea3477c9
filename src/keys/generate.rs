//! Host and login keys made by sftpha itself: the three host key types OpenSSH's sshd makes by
//! default (ed25519, ECDSA P-256, RSA 3072), so that clients which know no ed25519 (Java's
//! classic JSch, old appliances) still find a key they can verify.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::private::{EcdsaKeypair, Ed25519Keypair, RsaKeypair};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, EcdsaCurve, PrivateKey};

use crate::error::{Error, KeyError, Result};
use crate::files::write_atomically;

/// The RSA size `ssh-keygen` has made by default since OpenSSH 8.8.
const RSA_BITS: usize = 3072;

/// A host key type a cluster presents, in the order they are made and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    EcdsaP256,
    Rsa,
}

impl KeyKind {
    /// Every type a cluster presents, ed25519 first (what most clients choose).
    pub const ALL: [KeyKind; 3] = [KeyKind::Ed25519, KeyKind::EcdsaP256, KeyKind::Rsa];

    /// The word OpenSSH uses in file names (`ssh_host_{word}_key`) and `ssh-keyscan -t`.
    pub fn word(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "ed25519",
            KeyKind::EcdsaP256 => "ecdsa",
            KeyKind::Rsa => "rsa",
        }
    }

    /// Whether `key` is of this type (any ECDSA curve counts as ECDSA).
    pub fn matches(self, key: &PrivateKey) -> bool {
        matches!(
            (self, key.algorithm()),
            (KeyKind::Ed25519, Algorithm::Ed25519)
                | (KeyKind::EcdsaP256, Algorithm::Ecdsa { .. })
                | (KeyKind::Rsa, Algorithm::Rsa { .. })
        )
    }
}

/// A fresh key of `kind`, in memory only.
pub fn random(kind: KeyKind, comment: &str) -> Result<PrivateKey> {
    let no_key = |e| Error::Key(KeyError::Generate(e));
    let mut key = match kind {
        KeyKind::Ed25519 => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| KeyError::Randomness(e.to_string()))?;
            let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
            seed.fill(0);
            key
        }
        KeyKind::EcdsaP256 => PrivateKey::from(
            EcdsaKeypair::random(&mut russh::keys::key::safe_rng(), EcdsaCurve::NistP256)
                .map_err(no_key)?,
        ),
        KeyKind::Rsa => PrivateKey::from(
            RsaKeypair::random(&mut russh::keys::key::safe_rng(), RSA_BITS).map_err(no_key)?,
        ),
    };
    key.set_comment(comment);
    Ok(key)
}

/// Makes a fresh key of `kind` in OpenSSH format: `path` (0600) and `path.pub`.
pub fn generate(kind: KeyKind, path: &Path, comment: &str) -> Result<PrivateKey> {
    let key = random(kind, comment)?;
    let encode = |e| Error::Key(KeyError::Encode(e));
    let private = key.to_openssh(LineEnding::LF).map_err(encode)?;
    write_atomically(path, private.as_bytes(), 0o600)?;
    let public = key.public_key().to_openssh().map_err(encode)?;
    write_atomically(
        &PathBuf::from(format!("{}.pub", path.display())),
        format!("{public}\n").as_bytes(),
        0o644,
    )?;
    Ok(key)
}

/// A fresh ed25519 key, in memory only.
pub fn random_ed25519(comment: &str) -> Result<PrivateKey> {
    random(KeyKind::Ed25519, comment)
}

/// Makes a fresh ed25519 key in OpenSSH format: `path` (0600) and `path.pub`.
pub fn generate_ed25519(path: &Path, comment: &str) -> Result<PrivateKey> {
    generate(KeyKind::Ed25519, path, comment)
}

/// Loads an OpenSSH private key file; the error names it.
pub fn load(path: &Path) -> Result<PrivateKey> {
    russh::keys::load_secret_key(path, None).map_err(|e| Error::HostKey {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_makes_a_key_of_its_type() {
        for kind in KeyKind::ALL {
            let key = random(kind, "t").unwrap();
            assert!(kind.matches(&key), "{kind:?}");
            for other in KeyKind::ALL.into_iter().filter(|o| *o != kind) {
                assert!(!other.matches(&key), "{kind:?} is not {other:?}");
            }
        }
        let rsa = random(KeyKind::Rsa, "t").unwrap();
        let bits = match rsa.public_key().key_data() {
            russh::keys::ssh_key::public::KeyData::Rsa(k) => k.key_size(),
            _ => 0,
        };
        assert_eq!(bits, 3072);
        let ecdsa = random(KeyKind::EcdsaP256, "t").unwrap();
        assert_eq!(
            ecdsa.algorithm(),
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256
            }
        );
    }
}
