//! The target guard at registration and in the send-time resolver, with
//! private targets not allowed.

use std::net::IpAddr;

use hookbridge::delivery::guard::TargetGuard;
use hookbridge::delivery::special_addresses::{self, Reach};
use ipnet::IpNet;
use serde_json::json;

use crate::helpers::{TestApp, expect_error};

#[tokio::test]
async fn private_and_non_https_targets_are_refused_at_registration() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let account = app.new_account().await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://2130706433/hook",
        "https://0177.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://192.168.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.100.100.200/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ] {
        let error = expect_error(
            app.post_as(&account, "/v1/webhooks", &json!({"url": url}))
                .await,
            422,
            "invalid_subscription",
        )
        .await;
        assert_eq!(error["details"][0]["pointer"], "/url", "{url}");
        let error = expect_error(
            app.post_as(
                &account,
                "/v1/hooks",
                &json!({"hookUrl": url, "event": "signup"}),
            )
            .await,
            422,
            "invalid_subscription",
        )
        .await;
        assert_eq!(error["details"][0]["pointer"], "/hookUrl", "{url}");
    }
    let accepted = app
        .post_as(
            &account,
            "/v1/webhooks",
            &json!({"url": "https://93.184.216.34/hook"}),
        )
        .await;
    assert_eq!(accepted.status(), 201);
}

/// An address of each block of IANA's special-purpose registries (as the
/// guard's tables hold them), and beside it a public address as the
/// positive control: the first past the block, else the last before it,
/// when no table entry holds it and it is global unicast; else a well-known
/// public address of the same family.
fn registry_cases() -> Vec<(IpAddr, Reach, IpAddr, &'static str)> {
    let tables = special_addresses::IPV4
        .iter()
        .chain(special_addresses::IPV6);
    let blocks: Vec<IpNet> = tables.clone().map(|e| e.block.parse().unwrap()).collect();
    let global_unicast: IpNet = "2000::/3".parse().unwrap();
    let public = |ip: &IpAddr| {
        !blocks.iter().any(|b| b.contains(ip)) && (ip.is_ipv4() || global_unicast.contains(ip))
    };
    tables
        .map(|entry| {
            let block: IpNet = entry.block.parse().unwrap();
            let (first, beside, fallback) = match block {
                IpNet::V4(net) => {
                    let (low, high) = (u32::from(net.network()), u32::from(net.broadcast()));
                    let beside = [high.checked_add(1), low.checked_sub(1)]
                        .map(|a| a.map(|a| IpAddr::V4(a.into())));
                    (IpAddr::V4(net.network()), beside, "93.184.216.34")
                }
                IpNet::V6(net) => {
                    let (low, high) = (u128::from(net.network()), u128::from(net.broadcast()));
                    let beside = [high.checked_add(1), low.checked_sub(1)]
                        .map(|a| a.map(|a| IpAddr::V6(a.into())));
                    (IpAddr::V6(net.network()), beside, "2606:4700::1111")
                }
            };
            let sample = match entry.reach {
                // A form carrying an IPv4 address, carrying a private one.
                Reach::Embeds(_) if entry.block.starts_with("2002:") => {
                    "2002:a00:1::1".parse().unwrap()
                }
                Reach::Embeds(_) if entry.block.starts_with("2001::") => {
                    "2001:0:5db8:d822::f5ff:fffe".parse().unwrap()
                }
                Reach::Embeds(_) => {
                    let IpAddr::V6(prefix) = first else {
                        unreachable!()
                    };
                    let carried = u128::from(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 10)));
                    IpAddr::V6((u128::from(prefix) | carried).into())
                }
                _ => first,
            };
            let control = beside
                .into_iter()
                .flatten()
                .find(|ip| public(ip))
                .unwrap_or_else(|| fallback.parse().unwrap());
            (sample, entry.reach, control, entry.name)
        })
        .collect()
}

fn url_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("https://{v4}/hook"),
        IpAddr::V6(v6) => format!("https://[{v6}]/hook"),
    }
}

#[tokio::test]
async fn every_special_purpose_registry_entry_is_judged_at_registration_and_at_send_time() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let account = app.new_account().await;
    let resolver = TargetGuard::new(false).resolver();
    let mut checked = 0;
    for (ip, reach, control, name) in registry_cases() {
        let registered = app
            .post_as(&account, "/v1/webhooks", &json!({"url": url_of(ip)}))
            .await;
        let resolved = resolver.resolve(ip.to_string()).await;
        match reach {
            Reach::Global => {
                assert_eq!(
                    registered.status(),
                    201,
                    "{ip} ({name}) is globally reachable"
                );
                assert!(resolved.is_ok(), "{ip} ({name}): {resolved:?}");
            }
            Reach::Local | Reach::Embeds(_) => {
                let error = expect_error(registered, 422, "invalid_subscription").await;
                assert_eq!(error["details"][0]["pointer"], "/url", "{ip} ({name})");
                assert!(resolved.is_err(), "{ip} ({name}) passed the resolver");
            }
        }
        let registered = app
            .post_as(&account, "/v1/webhooks", &json!({"url": url_of(control)}))
            .await;
        assert_eq!(registered.status(), 201, "{control}, beside {ip} ({name})");
        assert!(
            resolver.resolve(control.to_string()).await.is_ok(),
            "{control}"
        );
        checked += 1;
    }
    let entries = special_addresses::IPV4.len() + special_addresses::IPV6.len();
    assert_eq!(checked, entries);
}

#[tokio::test]
async fn ipv6_forms_carrying_a_private_ipv4_address_are_refused() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let account = app.new_account().await;
    for url in [
        "https://[::10.0.0.1]/",
        "https://[::ffff:0:127.0.0.1]/",
        "https://[64:ff9b:1::a00:1]/",
        "https://[64:ff9b::169.254.169.254]/",
        "https://[2002:c0a8:101::1]/",
        "https://[2001:0:5db8:d822::80ff:fffe]/",
    ] {
        expect_error(
            app.post_as(&account, "/v1/webhooks", &json!({"url": url}))
                .await,
            422,
            "invalid_subscription",
        )
        .await;
    }
    for url in [
        "https://[::ffff:93.184.216.34]/",
        "https://[64:ff9b::93.184.216.34]/",
    ] {
        let accepted = app
            .post_as(&account, "/v1/webhooks", &json!({"url": url}))
            .await;
        assert_eq!(accepted.status(), 201, "{url}");
    }
}
