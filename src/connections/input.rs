//! Validation of what an operator types into the connection form: each field checked on its
//! own, with the field named in the error, so the workspace can put the message next to it.

use crate::vcenter::tls::{client_config, normalize_thumbprint};
use crate::vcenter::TlsMode;

/// Poll interval bounds and default, seconds.
pub const POLL_MIN: u32 = 20;
pub const POLL_MAX: u32 = 3600;
pub const POLL_DEFAULT: u32 = 30;

/// Longest name, username and password accepted.
const NAME_MAX: usize = 128;
const USERNAME_MAX: usize = 256;
const PASSWORD_MAX: usize = 1024;
/// Largest CA bundle accepted (a VMCA root plus intermediates fits many times over).
const CA_PEM_MAX: usize = 64 * 1024;

/// One field that does not hold a usable value. Never carries the value of a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("input_invalid: {field}: {message}")]
pub struct InputError {
    /// The input field, as the GraphQL input names it.
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        field,
        message: message.into(),
    }
}

fn printable(field: &'static str, value: &str, max: usize) -> Result<String, InputError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}

/// A display name: trimmed, 1 to 128 printable characters. Uniqueness (case-insensitive) is
/// the store's to enforce, since only it sees every connection.
pub fn name(value: &str) -> Result<String, InputError> {
    printable("name", value, NAME_MAX)
}

/// A vCenter user, e.g. `monitor@vsphere.local`.
pub fn username(value: &str) -> Result<String, InputError> {
    printable("username", value, USERNAME_MAX)
}

/// A password: kept exactly as typed (spaces may be part of it), never empty.
pub fn password(value: &str) -> Result<String, InputError> {
    if value.is_empty() {
        return Err(invalid("password", "must not be empty"));
    }
    if value.len() > PASSWORD_MAX {
        return Err(invalid(
            "password",
            format!("must be at most {PASSWORD_MAX} bytes"),
        ));
    }
    Ok(value.to_string())
}

/// The poll interval in seconds (`None`: the default).
pub fn poll_interval(value: Option<i32>) -> Result<u32, InputError> {
    match value {
        None => Ok(POLL_DEFAULT),
        Some(v) if (POLL_MIN as i32..=POLL_MAX as i32).contains(&v) => Ok(v as u32),
        Some(_) => Err(invalid(
            "pollIntervalSeconds",
            format!("must be between {POLL_MIN} and {POLL_MAX}"),
        )),
    }
}

/// The vCenter address: a host name, an IPv4 or an IPv6 address, optionally written as an
/// `https://` URL, with no path, query or user info. Returns the host lower-cased (IPv6 in
/// brackets) and the port it names, if any.
pub fn host(value: &str) -> Result<(String, Option<u16>), InputError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid("host", "must not be empty"));
    }
    let with_scheme = if let Some((scheme, _)) = v.split_once("://") {
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(invalid("host", "vCenter is reached over https only"));
        }
        v.to_string()
    } else if v.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("https://[{v}]")
    } else {
        format!("https://{v}")
    };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| invalid("host", format!("not a host name or address: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "host",
            "must not carry user info; use username and password",
        ));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(invalid("host", "must not carry a path"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("host", "must not carry a query or fragment"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return Err(invalid("host", "must name a host")),
    };
    Ok((host, url.port()))
}

/// The port: 1 to 65535, default 443; a port written in the host must agree with it.
pub fn port(value: Option<i32>, from_host: Option<u16>) -> Result<u16, InputError> {
    let given = match value {
        None => None,
        Some(p) => Some(
            u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| invalid("port", "must be between 1 and 65535"))?,
        ),
    };
    match (given, from_host) {
        (Some(a), Some(b)) if a != b => Err(invalid(
            "port",
            format!("the host names port {b}, the port field {a}"),
        )),
        (Some(p), _) | (None, Some(p)) => Ok(p),
        (None, None) => Ok(443),
    }
}

/// TLS trust modes an operator can choose; `Insecure` must be named, never a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustMode {
    Verify,
    Pinned,
    CustomCa,
    Insecure,
}

/// The trust a mode and its value describe: a pinned thumbprint is normalised to `AB:CD:...`,
/// a CA bundle must hold a certificate; a value that the mode does not use is refused so an
/// operator never believes a pin is active when it is not.
pub fn trust(
    mode: TrustMode,
    thumbprint: Option<&str>,
    ca_pem: Option<&str>,
) -> Result<TlsMode, InputError> {
    match mode {
        TrustMode::Pinned => {
            if ca_pem.is_some() {
                return Err(invalid("tlsCaPem", "only for CUSTOM_CA"));
            }
            let t = thumbprint.ok_or_else(|| invalid("tlsThumbprint", "required for PINNED"))?;
            normalize_thumbprint(t)
                .map(TlsMode::Thumbprint)
                .ok_or_else(|| {
                    invalid(
                        "tlsThumbprint",
                        "must be a SHA-256 thumbprint (64 hex digits)",
                    )
                })
        }
        TrustMode::CustomCa => {
            if thumbprint.is_some() {
                return Err(invalid("tlsThumbprint", "only for PINNED"));
            }
            let pem = ca_pem.ok_or_else(|| invalid("tlsCaPem", "required for CUSTOM_CA"))?;
            if pem.len() > CA_PEM_MAX {
                return Err(invalid(
                    "tlsCaPem",
                    format!("must be at most {CA_PEM_MAX} bytes"),
                ));
            }
            let mode = TlsMode::CaPem(pem.to_string());
            client_config(&mode)
                .map_err(|e| invalid("tlsCaPem", e.to_string()))
                .map(|_| mode)
        }
        TrustMode::Verify | TrustMode::Insecure => {
            if thumbprint.is_some() {
                return Err(invalid("tlsThumbprint", "only for PINNED"));
            }
            if ca_pem.is_some() {
                return Err(invalid("tlsCaPem", "only for CUSTOM_CA"));
            }
            Ok(if mode == TrustMode::Verify {
                TlsMode::System
            } else {
                TlsMode::Insecure
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalised() {
        let ok = [
            ("VC.Example.COM", ("vc.example.com", None)),
            ("https://vc.example.com/", ("vc.example.com", None)),
            (
                "HTTPS://vc.example.com:8443",
                ("vc.example.com", Some(8443)),
            ),
            ("10.0.0.5", ("10.0.0.5", None)),
            ("fe80::1", ("[fe80::1]", None)),
            ("[2001:DB8::1]", ("[2001:db8::1]", None)),
            ("https://[2001:db8::1]:444", ("[2001:db8::1]", Some(444))),
            ("  vc  ", ("vc", None)),
        ];
        for (input, (h, p)) in ok {
            assert_eq!(host(input), Ok((h.to_string(), p)), "{input}");
        }
    }

    #[test]
    fn bad_hosts_name_the_field() {
        for input in [
            "",
            "http://vc",
            "ftp://vc",
            "https://user:pw@vc",
            "https://vc/sdk",
            "vc/path",
            "https://vc?x=1",
            "https://vc#frag",
            "vc name",
        ] {
            let e = host(input).expect_err(input);
            assert_eq!(e.field, "host", "{input}");
            assert!(!e.message.contains("pw@"), "{e}");
        }
    }

    #[test]
    fn ports_and_intervals_are_bounded() {
        assert_eq!(port(None, None), Ok(443));
        assert_eq!(port(Some(8443), None), Ok(8443));
        assert_eq!(port(None, Some(444)), Ok(444));
        assert_eq!(port(Some(444), Some(444)), Ok(444));
        for bad in [0, -1, 65536] {
            assert_eq!(port(Some(bad), None).unwrap_err().field, "port");
        }
        assert_eq!(port(Some(443), Some(444)).unwrap_err().field, "port");
        assert_eq!(poll_interval(None), Ok(POLL_DEFAULT));
        assert_eq!(poll_interval(Some(20)), Ok(20));
        assert_eq!(poll_interval(Some(3600)), Ok(3600));
        for bad in [19, 3601, -5] {
            assert_eq!(
                poll_interval(Some(bad)).unwrap_err().field,
                "pollIntervalSeconds"
            );
        }
    }

    #[test]
    fn names_and_credentials() {
        assert_eq!(name("  Lab  "), Ok("Lab".into()));
        assert_eq!(name(" ").unwrap_err().field, "name");
        assert_eq!(name(&"x".repeat(129)).unwrap_err().field, "name");
        assert_eq!(name("a\nb").unwrap_err().field, "name");
        assert_eq!(username("").unwrap_err().field, "username");
        assert_eq!(password(" keep spaces "), Ok(" keep spaces ".into()));
        let e = password("").unwrap_err();
        assert_eq!(e.field, "password");
    }

    #[test]
    fn trust_values_must_match_their_mode() {
        let tp = "ab".repeat(32);
        assert!(matches!(
            trust(TrustMode::Pinned, Some(&tp), None),
            Ok(TlsMode::Thumbprint(t)) if t.starts_with("AB:AB")
        ));
        assert_eq!(
            trust(TrustMode::Pinned, None, None).unwrap_err().field,
            "tlsThumbprint"
        );
        assert_eq!(
            trust(TrustMode::Pinned, Some("abcd"), None)
                .unwrap_err()
                .field,
            "tlsThumbprint"
        );
        assert_eq!(
            trust(TrustMode::Verify, Some(&tp), None).unwrap_err().field,
            "tlsThumbprint"
        );
        assert_eq!(
            trust(TrustMode::CustomCa, None, Some("not pem"))
                .unwrap_err()
                .field,
            "tlsCaPem"
        );
        assert_eq!(trust(TrustMode::Verify, None, None), Ok(TlsMode::System));
        assert_eq!(
            trust(TrustMode::Insecure, None, None),
            Ok(TlsMode::Insecure)
        );
    }
}
