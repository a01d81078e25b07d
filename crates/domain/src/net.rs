//! Where the server may send requests (webhooks): not to itself, the
//! machine's neighbours or a cloud's metadata service. Pure classification
//! of addresses; resolving names is the client's.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address may not be a webhook target, or `None` when it may.
pub fn refused_target(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address (this machine)")
    } else if ip.is_link_local() {
        Some("a link-local address (including cloud metadata services such as 169.254.169.254)")
    } else if ip.is_private() {
        Some("a private address (10/8, 172.16/12, 192.168/16)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared address (100.64/10, carrier-grade NAT)")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address (this machine)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique-local address (fc00::/7)")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if first == 0x64 && ip.segments()[1] == 0xff9b {
        // NAT64 of an IPv4 address: judge the address it stands for.
        let s = ip.segments();
        refused_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
    } else {
        None
    }
}

/// Why a URL's host (as a parsed URL gives it: IPv4 in dotted form, IPv6
/// in brackets, else a name) may not be a webhook target, or `None`. Names
/// other than this machine's pass here; their addresses are checked when
/// they are resolved.
pub fn refused_host(host: &str) -> Option<&'static str> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(ip) => refused_target(ip),
        Err(_) if is_local_name(host) => Some("a name of this machine"),
        Err(_) => None,
    }
}

/// Whether a host name names this machine whatever the resolver says.
pub fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost") || h == "localhost.localdomain"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_targets_are_refused_and_public_ones_allowed() {
        for bad in [
            "127.0.0.1",
            "127.0.0.2",
            "0.0.0.0",
            "169.254.169.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::2",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(refused_target(bad.parse().unwrap()).is_some(), "{bad}");
        }
        for ok in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "64:ff9b::808:808"] {
            assert_eq!(refused_target(ok.parse().unwrap()), None, "{ok}");
        }
        assert!(is_local_name("LOCALHOST.") && is_local_name("a.localhost") && !is_local_name("hooks.example.com"));
        for (host, refused) in [
            ("127.0.0.1", true),
            ("[::1]", true),
            ("[fd00::1]", true),
            ("localhost", true),
            ("hooks.example.com", false),
            ("8.8.8.8", false),
        ] {
            assert_eq!(refused_host(host).is_some(), refused, "{host}");
        }
    }
}
