//! Which IP addresses deliveries may reach, as tables taken from IANA's
//! special-purpose address registries: every block a registry marks as not
//! globally reachable is refused, and so is every block outside them that is
//! not public unicast (IPv4 multicast; IPv6 outside `2000::/3`). Each IPv6
//! form that carries an IPv4 address (mapped, compatible, translated, 6to4,
//! Teredo, well-known NAT64) is judged by the IPv4 address it carries.
//!
//! Sources, as published on the dates given:
//! - IANA IPv4 Special-Purpose Address Registry, last updated 2020-09-04
//!   (<https://www.iana.org/assignments/iana-ipv4-special-registry/>);
//! - IANA IPv6 Special-Purpose Address Registry, last updated 2025-10-09
//!   (<https://www.iana.org/assignments/iana-ipv6-special-registry/>);
//! - IPv4 multicast (`224.0.0.0/4`, RFC 5771) and the IPv6 address space
//!   registry (global unicast is `2000::/3`, RFC 4291).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{Ipv4Net, Ipv6Net};

/// What a registry says of a block for a delivery's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Globally reachable: allowed.
    Global,
    /// Not globally reachable (or not unicast): refused.
    Local,
    /// Carries an IPv4 address: judged by it.
    Embeds(Embedding),
}

/// Where an IPv6 form carries its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// In its last 32 bits (mapped, compatible, translated, NAT64).
    Last32,
    /// In bits 16 to 47 (6to4, RFC 3056).
    SixToFour,
    /// The client's address, inverted, in its last 32 bits, and the
    /// server's in bits 32 to 63 (Teredo, RFC 4380); both are judged.
    Teredo,
}

/// One registry entry: the block as written in the registry, its name, and
/// whether it may be reached.
pub struct Entry {
    /// The block, in CIDR notation.
    pub block: &'static str,
    /// The registry's name for it (said in refusals).
    pub name: &'static str,
    /// Whether deliveries may reach it.
    pub reach: Reach,
}

const fn entry(block: &'static str, name: &'static str, reach: Reach) -> Entry {
    Entry { block, name, reach }
}

use Embedding::{Last32, SixToFour, Teredo};
use Reach::{Embeds, Global, Local};

/// The IPv4 registry's entries, and multicast.
pub const IPV4: &[Entry] = &[
    entry("0.0.0.0/8", "\"this network\"", Local),
    entry("0.0.0.0/32", "\"this host on this network\"", Local),
    entry("10.0.0.0/8", "private-use", Local),
    entry(
        "100.64.0.0/10",
        "shared address space (carrier-grade NAT)",
        Local,
    ),
    entry("127.0.0.0/8", "loopback", Local),
    entry("169.254.0.0/16", "link-local (cloud metadata)", Local),
    entry("172.16.0.0/12", "private-use", Local),
    entry("192.0.0.0/24", "IETF protocol assignments", Local),
    entry("192.0.0.0/29", "IPv4 service continuity prefix", Local),
    entry("192.0.0.8/32", "IPv4 dummy address", Local),
    entry("192.0.0.9/32", "Port Control Protocol anycast", Global),
    entry("192.0.0.10/32", "TURN anycast", Global),
    entry("192.0.0.170/32", "NAT64/DNS64 discovery", Local),
    entry("192.0.0.171/32", "NAT64/DNS64 discovery", Local),
    entry("192.0.2.0/24", "documentation (TEST-NET-1)", Local),
    entry("192.31.196.0/24", "AS112-v4", Global),
    entry("192.52.193.0/24", "AMT", Global),
    entry("192.88.99.0/24", "deprecated 6to4 relay anycast", Local),
    entry("192.168.0.0/16", "private-use", Local),
    entry("192.175.48.0/24", "direct delegation AS112 service", Global),
    entry("198.18.0.0/15", "benchmarking", Local),
    entry("198.51.100.0/24", "documentation (TEST-NET-2)", Local),
    entry("203.0.113.0/24", "documentation (TEST-NET-3)", Local),
    entry("240.0.0.0/4", "reserved", Local),
    entry("255.255.255.255/32", "limited broadcast", Local),
    entry("224.0.0.0/4", "multicast", Local),
];

/// The IPv6 registry's entries, and the forms that carry an IPv4 address.
pub const IPV6: &[Entry] = &[
    entry("::1/128", "loopback", Local),
    entry("::/128", "unspecified", Local),
    entry("::ffff:0:0/96", "IPv4-mapped", Embeds(Last32)),
    entry("::/96", "IPv4-compatible (deprecated)", Embeds(Last32)),
    entry("::ffff:0:0:0/96", "IPv4-translated", Embeds(Last32)),
    entry("64:ff9b::/96", "well-known NAT64", Embeds(Last32)),
    entry("64:ff9b:1::/48", "local-use NAT64", Local),
    entry("100::/64", "discard-only", Local),
    entry("100:0:0:1::/64", "dummy IPv6 prefix", Local),
    entry("2001::/23", "IETF protocol assignments", Local),
    entry("2001::/32", "Teredo", Embeds(Teredo)),
    entry("2001:1::1/128", "Port Control Protocol anycast", Global),
    entry("2001:1::2/128", "TURN anycast", Global),
    entry(
        "2001:1::3/128",
        "DNS-SD service registration anycast",
        Global,
    ),
    entry("2001:2::/48", "benchmarking", Local),
    entry("2001:3::/32", "AMT", Global),
    entry("2001:4:112::/48", "AS112-v6", Global),
    entry("2001:10::/28", "deprecated ORCHID", Local),
    entry("2001:20::/28", "ORCHIDv2", Global),
    entry("2001:30::/28", "drone remote ID entity tags", Global),
    entry("2001:db8::/32", "documentation", Local),
    entry("2002::/16", "6to4", Embeds(SixToFour)),
    entry(
        "2620:4f:8000::/48",
        "direct delegation AS112 service",
        Global,
    ),
    entry("3fff::/20", "documentation", Local),
    entry("5f00::/16", "segment routing (SRv6) SIDs", Local),
    entry("fc00::/7", "unique-local", Local),
    entry("fe80::/10", "link-local", Local),
];

static V4: LazyLock<Vec<(Ipv4Net, &'static Entry)>> = LazyLock::new(|| {
    IPV4.iter()
        .map(|e| (e.block.parse().expect("a valid IPv4 block"), e))
        .collect()
});

static V6: LazyLock<Vec<(Ipv6Net, &'static Entry)>> = LazyLock::new(|| {
    IPV6.iter()
        .map(|e| (e.block.parse().expect("a valid IPv6 block"), e))
        .collect()
});

/// Global unicast IPv6 (RFC 4291): everything outside it that no entry
/// names is reserved, multicast, site-local or the like.
static GLOBAL_UNICAST: LazyLock<Ipv6Net> =
    LazyLock::new(|| "2000::/3".parse().expect("a valid IPv6 block"));

/// Why deliveries may not reach `ip` (the block's name), or `None` when
/// they may.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let most_specific = V4
        .iter()
        .filter(|(block, _)| block.contains(&ip))
        .max_by_key(|(block, _)| block.prefix_len())?;
    match most_specific.1.reach {
        Local => Some(most_specific.1.name),
        Global | Embeds(_) => None,
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let most_specific = V6
        .iter()
        .filter(|(block, _)| block.contains(&ip))
        .max_by_key(|(block, _)| block.prefix_len());
    let Some((_, entry)) = most_specific else {
        return (!GLOBAL_UNICAST.contains(&ip)).then_some("reserved (not global unicast)");
    };
    match entry.reach {
        Global => None,
        Local => Some(entry.name),
        Embeds(embedding) => embedded(ip, embedding)
            .into_iter()
            .any(|v4| refusal_v4(v4).is_some())
            .then_some(entry.name),
    }
}

/// The IPv4 addresses `ip` carries as `embedding` says.
fn embedded(ip: Ipv6Addr, embedding: Embedding) -> Vec<Ipv4Addr> {
    let bits = u128::from(ip);
    let at = |shift: u32| Ipv4Addr::from((bits >> shift) as u32);
    match embedding {
        Last32 => vec![at(0)],
        SixToFour => vec![at(80)],
        Teredo => vec![Ipv4Addr::from(!(bits as u32)), at(64)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first address of `block`, the last, and (for a block of more
    /// than one address) one in its middle.
    fn samples(block: &str) -> Vec<IpAddr> {
        match block.parse::<ipnet::IpNet>().unwrap() {
            ipnet::IpNet::V4(net) => {
                let (first, last) = (u32::from(net.network()), u32::from(net.broadcast()));
                [first, first + (last - first) / 2, last]
                    .map(|a| IpAddr::V4(a.into()))
                    .to_vec()
            }
            ipnet::IpNet::V6(net) => {
                let (first, last) = (u128::from(net.network()), u128::from(net.broadcast()));
                [first, first + (last - first) / 2, last]
                    .map(|a| IpAddr::V6(a.into()))
                    .to_vec()
            }
        }
    }

    #[test]
    fn every_entry_that_is_not_globally_reachable_is_refused_throughout() {
        for entry in IPV4.iter().chain(IPV6).filter(|e| e.reach == Local) {
            for ip in samples(entry.block) {
                assert!(
                    refusal(ip).is_some(),
                    "{ip} in {} ({})",
                    entry.block,
                    entry.name
                );
            }
        }
    }

    #[test]
    fn globally_reachable_entries_are_allowed() {
        for entry in IPV4.iter().chain(IPV6).filter(|e| e.reach == Global) {
            let ip: IpAddr = entry.block.split('/').next().unwrap().parse().unwrap();
            assert_eq!(refusal(ip), None, "{ip} ({})", entry.name);
        }
    }

    #[test]
    fn embedded_ipv4_addresses_are_judged_by_what_they_carry() {
        let forms = [
            ("::ffff:{}", "IPv4-mapped"),
            ("::{}", "IPv4-compatible (deprecated)"),
            ("::ffff:0:{}", "IPv4-translated"),
            ("64:ff9b::{}", "well-known NAT64"),
        ];
        for (form, name) in forms {
            let private: IpAddr = form.replace("{}", "10.1.2.3").parse().unwrap();
            let public: IpAddr = form.replace("{}", "93.184.216.34").parse().unwrap();
            assert_eq!(refusal(private), Some(name), "{private}");
            assert_eq!(refusal(public), None, "{public}");
        }
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        assert_eq!(refusal("2002:7f00:1::1".parse().unwrap()), Some("6to4"));
        assert_eq!(refusal("2002:5db8:d822::1".parse().unwrap()), None);
        // Teredo: the client's address inverted in the last 32 bits.
        let teredo_to_loopback: IpAddr = "2001:0:5db8:d822::80ff:fffe".parse().unwrap();
        assert_eq!(refusal(teredo_to_loopback), Some("Teredo"));
        let teredo_public: IpAddr = "2001:0:5db8:d822::a247:27dd".parse().unwrap();
        assert_eq!(refusal(teredo_public), None);
        let teredo_private_server: IpAddr = "2001:0:a00:1::a247:27dd".parse().unwrap();
        assert_eq!(refusal(teredo_private_server), Some("Teredo"));
    }

    #[test]
    fn ipv6_outside_global_unicast_is_refused_and_public_addresses_pass() {
        for ip in ["ff02::1", "ff0e::1", "fec0::1", "4000::1", "::2:0:0"] {
            assert!(refusal(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert_eq!(refusal(ip.parse().unwrap()), None, "{ip}");
        }
    }
}
