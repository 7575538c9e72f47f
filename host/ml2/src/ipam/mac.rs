//! MAC addresses: random ones under the configured base, and parsing user input.

use rand::RngExt;

/// A random MAC that keeps the base's first three octets, and the fourth when it is not 0,
/// as Neutron's `get_random_mac` does.
pub fn random_mac(base: [u8; 6]) -> String {
    let mut rng = rand::rng();
    let mut mac = base;
    let fixed = if base[3] != 0 { 4 } else { 3 };
    for octet in mac.iter_mut().skip(fixed) {
        *octet = rng.random();
    }
    format(mac)
}

/// Lower-case, colon-separated form.
pub fn format(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse a MAC in `aa:bb:cc:dd:ee:ff` or `aa-bb-…` form; refuses multicast and all-zero.
pub fn parse_unicast(text: &str) -> Option<[u8; 6]> {
    let mac = crate::config::parse_mac(text)?;
    if mac[0] & 1 == 1 || mac == [0; 6] {
        return None;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_mac_keeps_the_base_prefix() {
        let mac = random_mac([0xfa, 0x16, 0x3e, 0, 0, 0]);
        assert!(mac.starts_with("fa:16:3e:"), "{mac}");
        let mac = random_mac([0xfa, 0x16, 0x3e, 0x7f, 0, 0]);
        assert!(mac.starts_with("fa:16:3e:7f:"), "{mac}");
    }

    #[test]
    fn multicast_and_zero_macs_are_refused() {
        assert!(parse_unicast("01:00:5e:00:00:01").is_none());
        assert!(parse_unicast("00:00:00:00:00:00").is_none());
        assert_eq!(
            parse_unicast("FA:16:3E:00:00:01"),
            Some([0xfa, 0x16, 0x3e, 0, 0, 1])
        );
    }
}
