//! Where sign-ins are kept: the OS keyring, behind one small trait.
//!
//! macOS Keychain, Windows Credential Manager, and on Linux the Secret Service (GNOME Keyring,
//! KWallet) with the kernel keyring (keyutils) as the headless fallback. There is deliberately no
//! file backend: when no keyring works, [`open`] says how to get one instead of writing tokens
//! to disk. [`MemoryStore`] keeps secrets in memory only, for tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

use crate::config::Accounts;

/// Why a secret could not be read, written or deleted. Never carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretStoreError {
    /// No keyring backend works here; the message says how to get one.
    #[error("{0}")]
    Unavailable(String),
    /// The backend is there but refused this operation.
    #[error("the {backend} refused to {operation} the {name} sign-in: {detail}")]
    Failed {
        /// Backend name.
        backend: String,
        /// read, store or delete.
        operation: &'static str,
        /// Entry name.
        name: String,
        /// What the backend said.
        detail: String,
    },
}

/// A place for secrets, one per entry name (the account: `google`, `hubspot`).
pub trait SecretStore: Send + Sync {
    /// The backend in the operator's words ("Secret Service", "kernel keyring (keyutils)" …).
    fn backend(&self) -> String;
    /// The secret stored under `name`, if any.
    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretStoreError>;
    /// Stores (or replaces) the secret under `name`.
    fn set(&self, name: &str, secret: &SecretString) -> Result<(), SecretStoreError>;
    /// Deletes the secret under `name`; whether there was one.
    fn delete(&self, name: &str) -> Result<bool, SecretStoreError>;
    /// The longest secret (in bytes of UTF-8) the backend keeps, when it has a small limit.
    fn max_len(&self) -> Option<usize> {
        None
    }
}

/// Secrets in this process's memory only (tests, and a vault with no keyring).
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, SecretString>>,
    limit: Option<usize>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store that refuses secrets longer than `limit` bytes, like Windows Credential
    /// Manager (tests).
    pub fn with_limit(limit: usize) -> MemoryStore {
        MemoryStore {
            limit: Some(limit),
            ..MemoryStore::default()
        }
    }

    fn failed(name: &str, operation: &'static str) -> SecretStoreError {
        SecretStoreError::Failed {
            backend: "memory store".into(),
            operation,
            name: name.into(),
            detail: "its lock was poisoned".into(),
        }
    }
}

impl SecretStore for MemoryStore {
    fn backend(&self) -> String {
        "memory (this process only)".into()
    }

    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretStoreError> {
        let entries = self.entries.lock().map_err(|_| Self::failed(name, "read"))?;
        Ok(entries.get(name).cloned())
    }

    fn set(&self, name: &str, secret: &SecretString) -> Result<(), SecretStoreError> {
        if self.limit.is_some_and(|l| secret.expose_secret().len() > l) {
            return Err(SecretStoreError::Failed {
                backend: self.backend(),
                operation: "store",
                name: name.into(),
                detail: "too long".into(),
            });
        }
        let mut entries = self.entries.lock().map_err(|_| Self::failed(name, "store"))?;
        entries.insert(name.to_string(), secret.clone());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<bool, SecretStoreError> {
        let mut entries = self.entries.lock().map_err(|_| Self::failed(name, "delete"))?;
        Ok(entries.remove(name).is_some())
    }

    fn max_len(&self) -> Option<usize> {
        self.limit
    }
}

/// The keyrings this build can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// freedesktop Secret Service over D-Bus (GNOME Keyring, KWallet, KeePassXC).
    SecretService,
    /// The Linux kernel's session keyring.
    Keyutils,
    /// macOS Keychain.
    Keychain,
    /// Windows Credential Manager.
    CredentialManager,
}

impl Backend {
    /// The backend in the operator's words.
    pub fn describe(self) -> &'static str {
        match self {
            Backend::SecretService => "Secret Service (D-Bus)",
            Backend::Keyutils => "kernel keyring (keyutils; kept until you log out)",
            Backend::Keychain => "macOS Keychain",
            Backend::CredentialManager => "Windows Credential Manager",
        }
    }

    /// The backends to try, in order, for a `[accounts] keyring` setting.
    fn candidates(setting: &str) -> Vec<Backend> {
        match setting {
            "secret-service" => vec![Backend::SecretService],
            "keyutils" => vec![Backend::Keyutils],
            _ if cfg!(target_os = "macos") => vec![Backend::Keychain],
            _ if cfg!(target_os = "windows") => vec![Backend::CredentialManager],
            _ => vec![Backend::SecretService, Backend::Keyutils],
        }
    }
}

/// The OS keyring, one entry per account under the configured service name.
pub struct OsKeyring {
    backend: Backend,
    service: String,
}

impl OsKeyring {
    /// The first backend of `candidates` that answers, or why none does.
    fn first_working(service: &str, candidates: &[Backend]) -> Result<OsKeyring, Vec<String>> {
        let mut why = Vec::new();
        for &backend in candidates {
            let ring = OsKeyring {
                backend,
                service: service.to_string(),
            };
            // Reading an entry that is not there is the cheapest question every backend answers.
            match ring.get("probe") {
                Ok(_) => return Ok(ring),
                Err(e) => why.push(format!("{}: {}", backend.describe(), detail_of(&e))),
            }
        }
        Err(why)
    }

    fn entry(&self, name: &str) -> Result<KeyringEntry, String> {
        KeyringEntry::new(self.backend, &self.service, name)
    }

    fn failed(&self, name: &str, operation: &'static str, detail: String) -> SecretStoreError {
        SecretStoreError::Failed {
            backend: self.backend.describe().into(),
            operation,
            name: name.into(),
            detail,
        }
    }
}

fn detail_of(e: &SecretStoreError) -> String {
    match e {
        SecretStoreError::Unavailable(d) => d.clone(),
        SecretStoreError::Failed { detail, .. } => detail.clone(),
    }
}

impl SecretStore for OsKeyring {
    fn backend(&self) -> String {
        self.backend.describe().into()
    }

    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretStoreError> {
        let entry = self.entry(name).map_err(|d| self.failed(name, "read", d))?;
        entry.get().map_err(|d| self.failed(name, "read", d))
    }

    fn set(&self, name: &str, secret: &SecretString) -> Result<(), SecretStoreError> {
        let entry = self.entry(name).map_err(|d| self.failed(name, "store", d))?;
        entry.set(secret).map_err(|d| {
            let hint = if self.backend == Backend::SecretService {
                " (a locked keyring that cannot ask for its password? unlock it, or set \
                 [accounts] keyring = \"keyutils\")"
            } else {
                ""
            };
            self.failed(name, "store", format!("{d}{hint}"))
        })?;
        // Read it back: some backends accept a write they cannot keep (a locked collection).
        match entry.get() {
            Ok(Some(back)) if back.expose_secret() == secret.expose_secret() => Ok(()),
            Ok(_) => Err(self.failed(name, "store", "the entry did not read back as written".into())),
            Err(d) => Err(self.failed(name, "store", d)),
        }
    }

    fn delete(&self, name: &str) -> Result<bool, SecretStoreError> {
        let entry = self.entry(name).map_err(|d| self.failed(name, "delete", d))?;
        entry.delete().map_err(|d| self.failed(name, "delete", d))
    }

    fn max_len(&self) -> Option<usize> {
        // Credential Manager keeps at most 2,560 bytes per credential (stored as bytes here).
        (self.backend == Backend::CredentialManager).then_some(2560)
    }
}

/// One keyring entry of a chosen backend (the `keyring` crate's default would pick by itself).
struct KeyringEntry(keyring_entry::Inner);

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
mod keyring_entry {
    use super::Backend;

    pub(super) type Inner = keyring::Entry;

    /// A message for a keyring error; never the secret (`BadEncoding` carries its bytes).
    pub(super) fn describe(e: &keyring::Error) -> String {
        match e {
            keyring::Error::BadEncoding(_) => "the stored entry is not UTF-8 text".into(),
            keyring::Error::Ambiguous(found) => {
                format!("{} entries match; delete the extra ones", found.len())
            }
            keyring::Error::PlatformFailure(e) => format!("platform failure: {e}"),
            keyring::Error::NoStorageAccess(e) => format!("no access to the store: {e}"),
            keyring::Error::TooLong(what, max) => format!("the {what} is longer than {max}"),
            keyring::Error::Invalid(what, why) => format!("invalid {what}: {why}"),
            other => other.to_string(),
        }
    }

    pub(super) fn open(backend: Backend, service: &str, name: &str) -> Result<Inner, String> {
        match backend {
            #[cfg(target_os = "linux")]
            Backend::SecretService => {
                let c = keyring::secret_service::SsCredential::new_with_target(None, service, name)
                    .map_err(|e| describe(&e))?;
                Ok(keyring::Entry::new_with_credential(Box::new(c)))
            }
            #[cfg(target_os = "linux")]
            Backend::Keyutils => {
                let c = keyring::keyutils::KeyutilsCredential::new_with_target(None, service, name)
                    .map_err(|e| describe(&e))?;
                Ok(keyring::Entry::new_with_credential(Box::new(c)))
            }
            #[cfg(target_os = "macos")]
            Backend::Keychain => keyring::Entry::new(service, name).map_err(|e| describe(&e)),
            #[cfg(target_os = "windows")]
            Backend::CredentialManager => keyring::Entry::new(service, name).map_err(|e| describe(&e)),
            #[allow(unreachable_patterns)]
            other => Err(format!("{} is not available on this system", other.describe())),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
mod keyring_entry {
    use super::Backend;

    pub(super) type Inner = ();

    pub(super) fn open(backend: Backend, _service: &str, _name: &str) -> Result<Inner, String> {
        Err(format!("{} is not available on this system", backend.describe()))
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
impl KeyringEntry {
    fn new(backend: Backend, service: &str, name: &str) -> Result<KeyringEntry, String> {
        keyring_entry::open(backend, service, name).map(KeyringEntry)
    }

    fn get(&self) -> Result<Option<SecretString>, String> {
        // Raw UTF-8 bytes on Windows (a password there is UTF-16: half the room).
        #[cfg(target_os = "windows")]
        let got = self
            .0
            .get_secret()
            .map(|b| String::from_utf8(b).map_err(|_| "the stored entry is not UTF-8 text".to_string()));
        #[cfg(not(target_os = "windows"))]
        let got = self.0.get_password().map(Ok);
        match got {
            Ok(s) => s.map(|s| Some(SecretString::from(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_entry::describe(&e)),
        }
    }

    fn set(&self, secret: &SecretString) -> Result<(), String> {
        #[cfg(target_os = "windows")]
        let set = self.0.set_secret(secret.expose_secret().as_bytes());
        #[cfg(not(target_os = "windows"))]
        let set = self.0.set_password(secret.expose_secret());
        set.map_err(|e| keyring_entry::describe(&e))
    }

    fn delete(&self) -> Result<bool, String> {
        match self.0.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(keyring_entry::describe(&e)),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
impl KeyringEntry {
    fn new(backend: Backend, service: &str, name: &str) -> Result<KeyringEntry, String> {
        keyring_entry::open(backend, service, name).map(KeyringEntry)
    }
    fn get(&self) -> Result<Option<SecretString>, String> {
        Err("no keyring on this system".into())
    }
    fn set(&self, _secret: &SecretString) -> Result<(), String> {
        Err("no keyring on this system".into())
    }
    fn delete(&self) -> Result<bool, String> {
        Err("no keyring on this system".into())
    }
}

/// How to get a keyring, for the "none works" message.
fn how_to_get_one() -> &'static str {
    if cfg!(target_os = "linux") {
        "On a desktop, start a Secret Service (GNOME Keyring or KWallet; e.g. `sudo apt install gnome-keyring`) \
         and log in again. On a headless machine, run casey inside a kernel session keyring: \
         `keyctl session - casey …` (apt install keyutils), or start one with \
         `dbus-run-session -- sh -c 'gnome-keyring-daemon --unlock; casey …'`. \
         CaseyOS never falls back to storing tokens in a file; for scripts, tokens can come from \
         CASEYOS_HUBSPOT_TOKEN / CASEYOS_GOOGLE_REFRESH_TOKEN instead."
    } else {
        "CaseyOS keeps sign-ins only in the OS keyring and never falls back to a file; for scripts, \
         tokens can come from CASEYOS_HUBSPOT_TOKEN / CASEYOS_GOOGLE_REFRESH_TOKEN instead."
    }
}

/// Opens the keyring chosen by `[accounts] keyring`: the first backend that answers, or an
/// [`SecretStoreError::Unavailable`] naming what was tried and how to get one working.
pub fn open(accounts: &Accounts) -> Result<Arc<dyn SecretStore>, SecretStoreError> {
    if accounts.keyring == "none" {
        return Err(SecretStoreError::Unavailable(
            "the keyring is switched off ([accounts] keyring = \"none\"): sign-ins cannot be stored; \
             tokens come only from CASEYOS_* variables"
                .into(),
        ));
    }
    let candidates = Backend::candidates(&accounts.keyring);
    match OsKeyring::first_working(&accounts.keyring_service, &candidates) {
        Ok(ring) => Ok(Arc::new(ring)),
        Err(why) => Err(SecretStoreError::Unavailable(format!(
            "no OS keyring is available ({}). {}",
            why.join("; "),
            how_to_get_one()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_round_trips_replaces_and_deletes() {
        let s = MemoryStore::new();
        assert!(s.get("google").unwrap().is_none());
        s.set("google", &SecretString::from("one".to_string())).unwrap();
        s.set("google", &SecretString::from("two".to_string())).unwrap();
        assert_eq!(s.get("google").unwrap().unwrap().expose_secret(), "two");
        assert!(s.delete("google").unwrap());
        assert!(!s.delete("google").unwrap());
        assert!(s.get("google").unwrap().is_none());
    }

    #[test]
    fn a_switched_off_keyring_says_so_and_never_falls_back() {
        let accounts = Accounts {
            keyring: "none".into(),
            keyring_service: "caseyos-unit".into(),
            sign_in_timeout_seconds: 1,
        };
        let err = open(&accounts).err().unwrap();
        assert!(matches!(err, SecretStoreError::Unavailable(_)));
        assert!(err.to_string().contains("switched off"), "{err}");
    }

    #[test]
    fn auto_tries_every_backend_of_the_platform_in_order() {
        let auto = Backend::candidates("auto");
        if cfg!(target_os = "linux") {
            assert_eq!(auto, vec![Backend::SecretService, Backend::Keyutils]);
        }
        assert_eq!(Backend::candidates("keyutils"), vec![Backend::Keyutils]);
    }
}
