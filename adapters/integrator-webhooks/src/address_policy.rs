//! Where webhooks may go (SSRF protection). By default only public addresses: no loopback,
//! private (RFC 1918, IPv6 unique-local), link-local (cloud metadata lives at 169.254.169.254),
//! carrier-grade NAT, unspecified, multicast, broadcast or documentation ranges. The operator
//! may allow loopback or private networks explicitly (`PARLEY_WEBHOOK_ALLOW_LOOPBACK`,
//! `PARLEY_WEBHOOK_ALLOW_PRIVATE`). The check runs on every address a host name resolves to,
//! at connection time (see [`crate::sender`]), so DNS rebinding cannot sneak past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Which non-public destinations the operator allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// 127.0.0.0/8 and ::1 (tests and local receivers).
    pub allow_loopback: bool,
    /// RFC 1918, fc00::/7, 100.64.0.0/10 and link-local.
    pub allow_private: bool,
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("not a valid URL: {0}")]
    Malformed(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("URLs with credentials are not allowed")]
    Credentials,
    #[error("{0} is not a public address; webhooks may not be sent there")]
    Forbidden(IpAddr),
    #[error("{0} names this machine; webhooks may not be sent there")]
    LocalName(String),
}

impl AddressPolicy {
    /// Whether webhooks may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Loopback => self.allow_loopback,
            AddressClass::Private => self.allow_private,
            AddressClass::Never => false,
        }
    }

    /// Checks a webhook URL as far as it can be checked without resolving its host: scheme,
    /// credentials, and a literal or local host. Returns the parsed URL.
    pub fn check_url(&self, raw: &str) -> Result<Url, UrlRefused> {
        let url = Url::parse(raw.trim()).map_err(|e| UrlRefused::Malformed(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefused::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::Credentials);
        }
        match url.host() {
            None => return Err(UrlRefused::NoHost),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost" || name.ends_with(".localhost");
                if local && !self.allow_loopback {
                    return Err(UrlRefused::LocalName(name));
                }
            }
        }
        Ok(url)
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), UrlRefused> {
        if self.allows(ip) {
            Ok(())
        } else {
            Err(UrlRefused::Forbidden(ip))
        }
    }
}

enum AddressClass {
    Public,
    Loopback,
    Private,
    Never,
}

fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            classify_v6(v6)
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, _, _] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b)) {
        AddressClass::Private
    } else if ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 198 && (b == 18 || b == 19))
    {
        AddressClass::Never
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 {
        AddressClass::Private
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || first == 0x2001 && ip.segments()[1] == 0x0db8
    {
        AddressClass::Never
    } else {
        AddressClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn by_default_only_public_addresses_are_allowed() {
        let policy = AddressPolicy::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!policy.allows(ip(refused)), "{refused} should be refused");
        }
        for allowed in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(policy.allows(ip(allowed)), "{allowed} should be allowed");
        }
    }

    #[test]
    fn the_operator_can_allow_loopback_without_allowing_private_ranges() {
        let policy = AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert!(policy.allows(ip("127.0.0.1")));
        assert!(policy.allows(ip("::1")));
        assert!(!policy.allows(ip("10.0.0.1")));
        assert!(!policy.allows(ip("169.254.169.254")));
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_hosts() {
        let policy = AddressPolicy::default();
        assert!(policy.check_url("https://hooks.example.com/parley").is_ok());
        assert_eq!(
            policy.check_url("ftp://example.com"),
            Err(UrlRefused::Scheme)
        );
        assert_eq!(
            policy.check_url("https://user:pw@example.com"),
            Err(UrlRefused::Credentials)
        );
        assert_eq!(
            policy.check_url("http://169.254.169.254/latest/meta-data"),
            Err(UrlRefused::Forbidden(ip("169.254.169.254")))
        );
        assert!(matches!(
            policy.check_url("http://localhost:8080/"),
            Err(UrlRefused::LocalName(_))
        ));
        assert!(matches!(
            policy.check_url("http://[::1]:8080/"),
            Err(UrlRefused::Forbidden(_))
        ));
        assert!(matches!(
            policy.check_url("not a url"),
            Err(UrlRefused::Malformed(_))
        ));
    }
}
