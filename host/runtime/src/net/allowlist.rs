//! Per-driver allow-lists of HTTP destinations.
//!
//! An entry is `scheme://host[:port][/path-prefix]`:
//! - `scheme` is `http` or `https` and must match exactly;
//! - `host` is a DNS name or an IP literal (`[::1]` for IPv6) and must match
//!   exactly (case-insensitive; no wildcards);
//! - `port` defaults to the scheme's port; `:*` allows any port;
//! - `path-prefix` (default: everything) matches whole path segments:
//!   `/api` allows `/api` and `/api/v1`, not `/apix`.
//!
//! Addresses: an IP-literal entry reaches exactly that address (even
//! link-local, since the operator wrote it). A name entry reaches what the
//! name resolves to, except link-local (169.254.0.0/16, fe80::/10, the
//! cloud metadata service), unspecified, multicast and broadcast addresses,
//! and loopback unless the name is `localhost`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A host: a DNS name (lowercase, no trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name.
    Name(String),
    /// An IP literal.
    Ip(IpAddr),
}

impl Host {
    fn parse(s: &str) -> Option<Host> {
        if let Some(v6) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return v6.parse().ok().map(Host::Ip);
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Some(Host::Ip(ip));
        }
        let name = s.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        valid.then_some(Host::Name(name))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    scheme: Scheme,
    host: Host,
    /// `None`: any port.
    port: Option<u16>,
    /// Empty: any path. Otherwise starts with `/` and has no trailing `/`.
    path_prefix: String,
    /// Whether an `https` server's certificate is verified (false only for the origins a
    /// driver's configuration turns verification off for, see
    /// [`crate::net::destinations`]).
    verify_tls: bool,
}

/// Where a request goes, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The scheme.
    pub scheme: Scheme,
    /// The host.
    pub host: Host,
    /// The port (explicit or the scheme's default).
    pub port: u16,
    /// The path (`/` when empty).
    pub path: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme.as_str(),
            self.host,
            self.port,
            self.path
        )
    }
}

/// Split `scheme://authority/path` into its parts.
fn split_url(s: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = Scheme::parse(scheme)?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    Some((scheme, authority, path))
}

/// The origin (`scheme://host[:port]`, an allow-list entry) of an absolute URL.
pub fn origin(url: &str) -> Result<String, String> {
    let (scheme, authority, _) = split_url(url)
        .ok_or_else(|| format!("{url:?} is not an absolute http:// or https:// URL"))?;
    let (host, port) =
        split_authority(authority).ok_or_else(|| format!("{url:?} has an invalid host"))?;
    if Host::parse(host).is_none() {
        return Err(format!("{url:?} has an invalid host"));
    }
    let scheme = match scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    Ok(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

/// Split `host[:port]` (`[v6]:port` for IPv6).
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.contains('@') {
        return None; // no credentials in URLs
    }
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

impl FromStr for Destination {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "allowed destination {s:?} {why}; expected scheme://host[:port|:*][/path-prefix]"
            )
        };
        let (scheme, authority, path) =
            split_url(s).ok_or_else(|| bad("has no http:// or https:// scheme"))?;
        let (host, port) = split_authority(authority).ok_or_else(|| bad("has an invalid host"))?;
        let host = Host::parse(host).ok_or_else(|| bad("has an invalid host"))?;
        let port = match port {
            None => Some(scheme.default_port()),
            Some("*") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad("has an invalid port"))?),
        };
        if path.contains(['?', '#']) {
            return Err(bad("has a query or fragment"));
        }
        Ok(Destination {
            scheme,
            host,
            port,
            path_prefix: path.trim_end_matches('/').to_string(),
            verify_tls: true,
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        match self.port {
            Some(p) => write!(f, ":{p}")?,
            None => f.write_str(":*")?,
        }
        write!(f, "{}", self.path_prefix)
    }
}

impl Destination {
    /// Whether the server's certificate must be verified (always, but for the origins a
    /// driver's configuration turned verification off for).
    pub fn verifies_tls(&self) -> bool {
        self.verify_tls
    }

    /// Whether a request to `target` is allowed by this entry.
    pub fn matches(&self, target: &Target) -> bool {
        self.scheme == target.scheme
            && self.host == target.host
            && self.port.is_none_or(|p| p == target.port)
            && (self.path_prefix.is_empty()
                || target.path == self.path_prefix
                || target
                    .path
                    .strip_prefix(&self.path_prefix)
                    .is_some_and(|rest| rest.starts_with('/')))
    }

    /// Whether a transport may connect to `ip` for this entry.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match &self.host {
            Host::Ip(listed) => listed.to_canonical() == ip,
            Host::Name(name) => {
                let special = match ip {
                    IpAddr::V4(v4) => {
                        v4.is_link_local()
                            || v4.is_unspecified()
                            || v4.is_multicast()
                            || v4.is_broadcast()
                    }
                    IpAddr::V6(v6) => {
                        v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast()
                    }
                };
                !special && (!ip.is_loopback() || name == "localhost")
            }
        }
    }
}

/// Parse a request URL into a [`Target`] (and the [`http::Uri`] to send).
/// Paths with `.`/`..` segments (plain or percent-encoded) are refused so a
/// path prefix cannot be escaped.
pub fn parse_target(url: &str) -> Result<(http::Uri, Target), String> {
    let (scheme, authority, _) = split_url(url)
        .ok_or_else(|| format!("{url:?} is not an absolute http:// or https:// URL"))?;
    let (host, port) =
        split_authority(authority).ok_or_else(|| format!("{url:?} has an invalid host"))?;
    let host = Host::parse(host).ok_or_else(|| format!("{url:?} has an invalid host"))?;
    let port = match port {
        None => scheme.default_port(),
        Some(p) => p
            .parse()
            .map_err(|_| format!("{url:?} has an invalid port"))?,
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    let path = match uri.path() {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    let dot_segment = path.split('/').any(|seg| {
        let seg = seg.to_ascii_lowercase().replace("%2e", ".");
        seg == "." || seg == ".."
    });
    if dot_segment {
        return Err(format!("{url:?} has `.` or `..` path segments"));
    }
    Ok((
        uri,
        Target {
            scheme,
            host,
            port,
            path,
        },
    ))
}

/// A driver's allowed destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Destination>,
}

impl Allowlist {
    /// Parse the operator's entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Allowlist, String> {
        let entries = entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<_, _>>()?;
        Ok(Allowlist { entries })
    }

    /// Put `entries` first, with the server's certificate not verified: a request they allow
    /// is never checked against the later (verifying) entries.
    pub fn prepend_unverified<S: AsRef<str>>(&mut self, entries: &[S]) -> Result<(), String> {
        let mut first = entries
            .iter()
            .map(|e| {
                e.as_ref().parse().map(|d: Destination| Destination {
                    verify_tls: false,
                    ..d
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        first.append(&mut self.entries);
        self.entries = first;
        Ok(())
    }

    /// The entry allowing `target`, if any.
    pub fn find(&self, target: &Target) -> Option<&Destination> {
        self.entries.iter().find(|d| d.matches(target))
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_entries_prepended_unverified_skip_certificate_verification() {
        let mut list = Allowlist::parse(&["https://10.0.0.1", "https://10.0.0.2"]).unwrap();
        list.prepend_unverified(&["https://10.0.0.2"]).unwrap();
        let find = |url: &str| list.find(&parse_target(url).unwrap().1).unwrap().clone();
        assert!(find("https://10.0.0.1/api").verifies_tls());
        assert!(!find("https://10.0.0.2/api").verifies_tls());
    }

    fn allows(entry: &str, url: &str) -> bool {
        let list = Allowlist::parse(&[entry]).unwrap();
        let (_, target) = parse_target(url).unwrap();
        list.find(&target).is_some()
    }

    #[test]
    fn scheme_host_and_default_port_must_match_exactly() {
        assert!(allows(
            "https://ctrl.example.net",
            "https://ctrl.example.net/x"
        ));
        assert!(allows(
            "https://ctrl.example.net",
            "https://CTRL.example.net:443/x"
        ));
        assert!(!allows(
            "https://ctrl.example.net",
            "http://ctrl.example.net/x"
        ));
        assert!(!allows(
            "https://ctrl.example.net",
            "https://ctrl.example.net:8443/x"
        ));
        assert!(!allows(
            "https://ctrl.example.net",
            "https://evil.ctrl.example.net/x"
        ));
        assert!(!allows(
            "https://ctrl.example.net",
            "https://ctrl.example.net.evil.com/x"
        ));
    }

    #[test]
    fn a_star_port_allows_any_port() {
        assert!(allows("http://10.0.0.5:*", "http://10.0.0.5:6640/"));
        assert!(allows("http://10.0.0.5:*", "http://10.0.0.5/"));
        assert!(!allows("http://10.0.0.5:*", "http://10.0.0.6:6640/"));
    }

    #[test]
    fn path_prefixes_match_whole_segments() {
        assert!(allows("http://ctrl:8080/api", "http://ctrl:8080/api"));
        assert!(allows(
            "http://ctrl:8080/api/",
            "http://ctrl:8080/api/v1/ports?x=1"
        ));
        assert!(!allows("http://ctrl:8080/api", "http://ctrl:8080/apix"));
        assert!(!allows("http://ctrl:8080/api", "http://ctrl:8080/"));
    }

    #[test]
    fn dot_segments_and_credentials_are_refused() {
        assert!(parse_target("http://ctrl:8080/api/../admin").is_err());
        assert!(parse_target("http://ctrl:8080/api/%2E%2e/admin").is_err());
        assert!(parse_target("http://user:pw@ctrl:8080/").is_err());
        assert!(parse_target("ftp://ctrl/").is_err());
        assert!(parse_target("/relative").is_err());
    }

    #[test]
    fn ipv6_literals_are_supported() {
        assert!(allows("http://[fd00::1]:8080", "http://[fd00::1]:8080/x"));
        assert!(!allows("http://[fd00::1]:8080", "http://[fd00::2]:8080/x"));
    }

    #[test]
    fn invalid_entries_are_refused_with_the_expected_form() {
        for bad in [
            "ctrl.example.net",
            "https://",
            "https://ctrl:99999",
            "https://ctrl/x?y",
        ] {
            let err = Allowlist::parse(&[bad]).unwrap_err();
            assert!(err.contains("scheme://host"), "{bad}: {err}");
        }
    }

    #[test]
    fn names_may_not_resolve_to_metadata_loopback_or_unspecified_addresses() {
        let named: Destination = "https://ctrl.example.net".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(named.allows_ip(ip("10.1.2.3")));
        assert!(named.allows_ip(ip("203.0.113.7")));
        assert!(!named.allows_ip(ip("169.254.169.254")));
        assert!(!named.allows_ip(ip("::ffff:169.254.169.254")));
        assert!(!named.allows_ip(ip("fe80::1")));
        assert!(!named.allows_ip(ip("127.0.0.1")));
        assert!(!named.allows_ip(ip("0.0.0.0")));
        let localhost: Destination = "http://localhost:8080".parse().unwrap();
        assert!(localhost.allows_ip(ip("127.0.0.1")));
    }

    #[test]
    fn an_ip_literal_entry_reaches_exactly_that_address_even_link_local() {
        let metadata: Destination = "http://169.254.169.254".parse().unwrap();
        assert!(metadata.allows_ip("169.254.169.254".parse().unwrap()));
        assert!(!metadata.allows_ip("169.254.169.253".parse().unwrap()));
    }
}
