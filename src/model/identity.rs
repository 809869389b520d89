//! Identity for cross-platform merge: host hardware UUID, VM instanceUuid and biosUuid, the
//! biosUuid in the SMBIOS byte order a guest OS agent reports, hostnames, IPs and MACs, all
//! normalised so equal things compare equal.

/// Lowercase canonical form of a UUID, or `None` when the text is not a UUID.
pub fn normalize_uuid(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The same UUID with its first three fields byte-swapped. vSphere's `config.uuid` (the BIOS
/// UUID) is shown big-endian, but SMBIOS stores those fields little-endian, so an agent inside
/// the guest reading `/sys/class/dmi/id/product_uuid` or `Win32_ComputerSystemProduct` may
/// report the swapped form. Both must match when Pulse merges a VM with its guest agent.
pub fn smbios_byte_order(uuid: &str) -> Option<String> {
    let n = normalize_uuid(uuid)?;
    let hex: Vec<char> = n.chars().filter(|c| *c != '-').collect();
    let swap = |range: std::ops::Range<usize>| -> String {
        let bytes: Vec<String> = hex[range].chunks(2).map(|c| c.iter().collect()).collect();
        bytes.into_iter().rev().collect()
    };
    let rest: String = hex[16..32].iter().collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        swap(0..8),
        swap(8..12),
        swap(12..16),
        &rest[0..4],
        &rest[4..16]
    ))
}

/// Lowercase colon form of a MAC address (`00:50:56:ab:cd:ef`), accepting `-` or no separator.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() != 12
        || s.chars()
            .any(|c| !(c.is_ascii_hexdigit() || c == ':' || c == '-' || c == '.'))
    {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(
        (0..6)
            .map(|i| &h[i * 2..i * 2 + 2])
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Lowercase hostname without a trailing dot; `None` for empty names.
pub fn normalize_hostname(s: &str) -> Option<String> {
    let t = s.trim().trim_end_matches('.');
    (!t.is_empty()).then(|| t.to_ascii_lowercase())
}

/// Keeps valid IP addresses (v4 and v6, without zone or prefix), dropping link-local IPv6,
/// which does not identify a machine across networks.
pub fn normalize_ips<'a>(ips: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = ips
        .into_iter()
        .filter_map(|s| s.split(['%', '/']).next())
        .filter_map(|s| s.trim().parse::<std::net::IpAddr>().ok())
        .filter(|ip| match ip {
            std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            std::net::IpAddr::V4(_) => true,
        })
        .map(|ip| ip.to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_normalisation() {
        assert_eq!(
            normalize_uuid("4210C3E4-1C52-7F3B-AB12-00505689ABCD").as_deref(),
            Some("4210c3e4-1c52-7f3b-ab12-00505689abcd")
        );
        assert_eq!(
            normalize_uuid("4210c3e41c527f3bab1200505689abcd").as_deref(),
            Some("4210c3e4-1c52-7f3b-ab12-00505689abcd")
        );
        assert_eq!(normalize_uuid("not-a-uuid"), None);
        assert_eq!(normalize_uuid(""), None);
    }

    #[test]
    fn smbios_order_swaps_the_first_three_fields() {
        // vSphere shows 4210c3e4-1c52-7f3b-...; dmidecode on an older guest shows e4c31042-521c-3b7f-...
        assert_eq!(
            smbios_byte_order("4210c3e4-1c52-7f3b-ab12-00505689abcd").as_deref(),
            Some("e4c31042-521c-3b7f-ab12-00505689abcd")
        );
        // Swapping twice gives the original back.
        let once = smbios_byte_order("4210c3e4-1c52-7f3b-ab12-00505689abcd").unwrap_or_default();
        assert_eq!(
            smbios_byte_order(&once).as_deref(),
            Some("4210c3e4-1c52-7f3b-ab12-00505689abcd")
        );
        assert_eq!(smbios_byte_order("garbage"), None);
    }

    #[test]
    fn mac_hostname_ip_normalisation() {
        assert_eq!(
            normalize_mac("00-50-56-AB-CD-EF").as_deref(),
            Some("00:50:56:ab:cd:ef")
        );
        assert_eq!(
            normalize_mac("005056abcdef").as_deref(),
            Some("00:50:56:ab:cd:ef")
        );
        assert_eq!(normalize_mac("00:50:56:ab:cd"), None);
        assert_eq!(normalize_mac("zz:50:56:ab:cd:ef"), None);
        assert_eq!(
            normalize_hostname("Web01.Lab.Local.").as_deref(),
            Some("web01.lab.local")
        );
        assert_eq!(normalize_hostname("  "), None);
        assert_eq!(
            normalize_ips([
                "10.0.0.5",
                "fe80::1%eth0",
                "2001:db8::1/64",
                "10.0.0.5",
                "bogus"
            ]),
            vec!["10.0.0.5".to_string(), "2001:db8::1".to_string()]
        );
    }
}
