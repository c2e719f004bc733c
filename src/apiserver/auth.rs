//! Authentication: who is making a request. Client certificates signed by the cluster CA (CN is the user,
//! O the groups, as upstream) and bearer tokens from a static token file (upstream's CSV format). Requests with
//! neither are anonymous and get 401 everywhere but the health and version endpoints. There is no
//! authorization yet: every authenticated user may do everything.

use std::collections::HashMap;
use std::path::Path;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

/// The identity the TLS layer proved for one connection, if the client presented a certificate.
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity(pub Option<UserInfo>);

/// Bearer tokens from `--token-auth-file`.
#[derive(Clone, Debug, Default)]
pub struct TokenAuthenticator {
    users_by_token: HashMap<String, UserInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read token file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("token file {path} line {line}: {reason}")]
    Malformed { path: String, line: usize, reason: String },
}

impl TokenAuthenticator {
    /// Reads `token,user,uid[,"group1,group2"]` lines; blank lines are skipped.
    pub fn from_file(path: &Path) -> Result<Self, TokenFileError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io { path: display.clone(), source })?;
        let mut users_by_token = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields = split_csv_line(line);
            let malformed = |reason: &str| TokenFileError::Malformed { path: display.clone(), line: index + 1, reason: reason.to_string() };
            if fields.len() < 3 {
                return Err(malformed("expected at least token,user,uid"));
            }
            if fields[0].is_empty() || fields[1].is_empty() {
                return Err(malformed("token and user must not be empty"));
            }
            let groups = fields
                .get(3)
                .map(|groups| groups.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect())
                .unwrap_or_default();
            let user = UserInfo { name: fields[1].clone(), uid: fields[2].clone(), groups };
            users_by_token.insert(fields[0].clone(), user);
        }
        Ok(Self { users_by_token })
    }

    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        self.users_by_token.get(token).cloned()
    }
}

/// Splits one CSV record, honouring double quotes (a quoted field may hold commas).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    fields.push(current);
    fields.into_iter().map(|field| field.trim().to_string()).collect()
}

/// The user named by a client certificate: CN is the name, each O a group.
pub fn user_from_certificate(der: &[u8]) -> Option<UserInfo> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = certificate.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(String::from)).collect();
    Some(UserInfo { name, uid: String::new(), groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_reads_upstream_csv_with_quoted_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "admin-token,admin,1,\"system:masters,devs\"\n\nplain,bob,2\n").unwrap();
        let tokens = TokenAuthenticator::from_file(&path).unwrap();
        let admin = tokens.authenticate("admin-token").unwrap();
        assert_eq!(admin.name, "admin");
        assert_eq!(admin.groups, vec!["system:masters", "devs"]);
        assert_eq!(tokens.authenticate("plain").unwrap().groups, Vec::<String>::new());
        assert!(tokens.authenticate("nope").is_none());
    }

    #[test]
    fn token_file_rejects_short_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "only-token\n").unwrap();
        let error = TokenAuthenticator::from_file(&path).unwrap_err();
        assert!(error.to_string().contains("line 1"));
    }
}
