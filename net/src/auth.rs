//! Authentication: the credentials file (one `user:<argon2id PHC hash>` per line) and SASL
//! PLAIN decoding. `coregraph user add` calls [`add_user`]; the server calls
//! [`Credentials::load`] at start and [`Credentials::verify`] per authentication.
//!
//! Argon2id (RustCrypto `argon2`, OWASP's first choice for password storage) with a random
//! 16-byte salt per user and the crate's default cost (19 MiB, 2 passes); the PHC string keeps
//! the parameters, so they can be raised later without invalidating stored hashes.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;

/// Longest user name.
pub const USER_NAME_BYTES_MAX: usize = 256;
/// Longest password.
pub const PASSWORD_BYTES_MAX: usize = 1024;
/// Largest credentials file read.
pub const CREDENTIALS_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Errors of the credentials file and of SASL decoding.
#[derive(Debug)]
pub enum AuthError {
    Io(std::io::Error),
    /// A line of the credentials file is not `user:hash` (1-based line number).
    BadLine(usize),
    /// A user name that is empty, too long, or has `:` or a control character.
    BadUserName,
    BadPassword,
    Hash(String),
    /// The SASL PLAIN response is not base64 of `authzid NUL user NUL password`.
    BadSasl,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Io(e) => write!(f, "credentials file: {e}"),
            AuthError::BadLine(n) => write!(f, "credentials file line {n} is not user:hash"),
            AuthError::BadUserName => write!(
                f,
                "user names are 1 to {USER_NAME_BYTES_MAX} bytes without ':' or control characters"
            ),
            AuthError::BadPassword => {
                write!(f, "passwords are 1 to {PASSWORD_BYTES_MAX} bytes")
            }
            AuthError::Hash(e) => write!(f, "password hash: {e}"),
            AuthError::BadSasl => write!(f, "invalid SASL PLAIN response"),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<std::io::Error> for AuthError {
    fn from(e: std::io::Error) -> AuthError {
        AuthError::Io(e)
    }
}

fn check_user_name(user: &str) -> Result<(), AuthError> {
    let ok = !user.is_empty()
        && user.len() <= USER_NAME_BYTES_MAX
        && !user.chars().any(|c| c == ':' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadUserName)
    }
}

/// A salted Argon2id hash of `password` as a PHC string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.is_empty() || password.len() > PASSWORD_BYTES_MAX {
        return Err(AuthError::BadPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// The users and their password hashes.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    users: HashMap<String, String>,
}

impl Credentials {
    /// Reads a credentials file; a missing file is an error.
    pub fn load(path: &Path) -> Result<Credentials, AuthError> {
        let len = std::fs::metadata(path)?.len();
        if len > CREDENTIALS_FILE_BYTES_MAX {
            return Err(AuthError::Io(std::io::Error::other(format!(
                "{} is larger than {CREDENTIALS_FILE_BYTES_MAX} bytes",
                path.display()
            ))));
        }
        Credentials::parse(&std::fs::read_to_string(path)?)
    }

    /// Parses the file format: `user:hash` lines, blank lines and `#` comments.
    pub fn parse(text: &str) -> Result<Credentials, AuthError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or(AuthError::BadLine(i + 1))?;
            check_user_name(user).map_err(|_| AuthError::BadLine(i + 1))?;
            PasswordHash::new(hash).map_err(|_| AuthError::BadLine(i + 1))?;
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Credentials { users })
    }

    /// The file text.
    pub fn render(&self) -> String {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        let mut out = String::from("# coregraph credentials: user:argon2id-hash\n");
        for name in names {
            if let Some(hash) = self.users.get(name) {
                out.push_str(&format!("{name}:{hash}\n"));
            }
        }
        out
    }

    /// Whether `password` is `user`'s. Costs one Argon2 evaluation (tens of ms): call it off the
    /// reactor thread.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    /// Adds or replaces a user.
    pub fn set(&mut self, user: &str, password: &str) -> Result<(), AuthError> {
        check_user_name(user)?;
        let hash = hash_password(password)?;
        self.users.insert(user.to_string(), hash);
        Ok(())
    }

    /// Removes a user; whether it existed.
    pub fn remove(&mut self, user: &str) -> bool {
        self.users.remove(user).is_some()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Writes `credentials` to `path` atomically (temporary file, fsync, rename), mode 0600.
pub fn store(path: &Path, credentials: &Credentials) -> Result<(), AuthError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(credentials.render().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `coregraph user add`: adds or replaces `user` in the credentials file at `path` (created if
/// missing).
pub fn add_user(path: &Path, user: &str, password: &str) -> Result<(), AuthError> {
    let mut credentials = if path.exists() {
        Credentials::load(path)?
    } else {
        Credentials::default()
    };
    credentials.set(user, password)?;
    store(path, &credentials)
}

/// `coregraph user remove`: removes `user`; whether it existed.
pub fn remove_user(path: &Path, user: &str) -> Result<bool, AuthError> {
    let mut credentials = Credentials::load(path)?;
    let existed = credentials.remove(user);
    store(path, &credentials)?;
    Ok(existed)
}

/// Decodes a SASL PLAIN response (base64 of `authzid NUL authcid NUL password`) into
/// `(user, password)`; the authorization id is ignored, as Gremlin Server does.
pub fn decode_sasl_plain(b64: &str) -> Result<(String, String), AuthError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| AuthError::BadSasl)?;
    let mut fields = raw.rsplitn(3, |&b| b == 0);
    let password = fields.next().ok_or(AuthError::BadSasl)?;
    let user = fields.next().ok_or(AuthError::BadSasl)?;
    let user = String::from_utf8(user.to_vec()).map_err(|_| AuthError::BadSasl)?;
    let password = String::from_utf8(password.to_vec()).map_err(|_| AuthError::BadSasl)?;
    Ok((user, password))
}

/// Decodes an HTTP `Authorization: Basic ...` header value into `(user, password)`.
pub fn decode_basic(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain() {
        assert_eq!(
            decode_sasl_plain("AHN0ZXBoZW4AcGFzc3dvcmQ=").ok(),
            Some(("stephen".to_string(), "password".to_string()))
        );
        assert!(decode_sasl_plain("bm9udWxs").is_err()); // "nonull"
        assert!(decode_sasl_plain("!!!").is_err());
    }

    #[test]
    fn file_round_trip_and_verify() {
        let dir = std::env::temp_dir().join(format!("coregraph-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("credentials");
        let _ = std::fs::remove_file(&path);
        add_user(&path, "stephen", "password").expect("add");
        add_user(&path, "marko", "rainbow").expect("add");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("password"), "hash, not the password");
        let c = Credentials::load(&path).expect("load");
        assert_eq!(c.len(), 2);
        assert!(c.verify("stephen", "password"));
        assert!(!c.verify("stephen", "Password"));
        assert!(!c.verify("nobody", "password"));
        assert!(remove_user(&path, "marko").expect("remove"));
        assert_eq!(Credentials::load(&path).expect("load").len(), 1);
        assert!(add_user(&path, "a:b", "x").is_err());
        assert!(matches!(
            Credentials::parse("x"),
            Err(AuthError::BadLine(1))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn basic_header() {
        // "user:pa:ss"
        assert_eq!(
            decode_basic("Basic dXNlcjpwYTpzcw=="),
            Some(("user".to_string(), "pa:ss".to_string()))
        );
        assert_eq!(decode_basic("Bearer x"), None);
    }
}
