//! What admins set for the live analysis, through the API of an embedded node: capacities
//! (entities with `/` in their names), alert rules and precursor groups. Invalid ones get a
//! 400 naming the field, anonymous changes 401, and every change is in the audit log.

use serde_json::{json, Value};

use crate::support::{http, HttpAnswer, Node};

#[test]
fn capacities_rules_and_groups_are_set_checked_and_audited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = Node::start("embedded", "", dir.path());
    node.wait_healthy();
    let token = {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_layercast"))
            .args([
                "token",
                "create",
                "--name",
                "planner",
                "--role",
                "admin",
                "--data-dir",
            ])
            .arg(dir.path().join("embedded"))
            .output()
            .expect("token create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let auth = format!("Bearer {token}");
    let send = |method: &str, path: &str, body: Option<Value>| -> HttpAnswer {
        let text = body.map(|b| b.to_string());
        http(
            node.port,
            method,
            path,
            &[("Authorization", &auth)],
            text.as_deref(),
        )
    };
    let error_of = |answer: &HttpAnswer| answer.json()["error"].as_str().unwrap_or("").to_owned();

    // Capacities: per series and metric; the entity may hold `/`.
    let path = "/api/capacities/L2/fra1-spine1/et49";
    let anonymous = http(
        node.port,
        "PUT",
        path,
        &[],
        Some(&json!({"metric": "bytes_per_s", "capacity": 1.25e9}).to_string()),
    );
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let bad = send(
        "PUT",
        path,
        Some(json!({"metric": "bandwidth", "capacity": 1.0})),
    );
    assert_eq!(bad.status, 400);
    assert!(error_of(&bad).starts_with("metric:"), "{}", bad.body);
    let bad = send(
        "PUT",
        path,
        Some(json!({"metric": "bytes_per_s", "capacity": -1.0})),
    );
    assert!(error_of(&bad).starts_with("capacity:"), "{}", bad.body);
    let bad = send(
        "PUT",
        "/api/capacities/L9/x",
        Some(json!({"metric": "bytes", "capacity": 1.0})),
    );
    assert!(error_of(&bad).starts_with("layer:"), "{}", bad.body);
    let set = send(
        "PUT",
        path,
        Some(json!({"metric": "bytes_per_s", "capacity": 1.25e9})),
    );
    assert_eq!(set.status, 201, "{}", set.body);
    let again = send(
        "PUT",
        path,
        Some(json!({"metric": "bytes_per_s", "capacity": 2.5e9})),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    let got = http(node.port, "GET", path, &[], None).json();
    assert_eq!(
        got,
        json!([{"layer": "L2", "entity": "fra1-spine1/et49", "metric": "bytes_per_s", "capacity": 2.5e9}])
    );

    // Rules: checked as the detectors check them, ids unique.
    let rule = json!({"id": "uplink-hot", "layer": "L2", "entity": "sw1-*", "metric": "bytes_per_s",
        "condition": {"signal": "value", "op": "above", "fire": 9e8, "resolve": 8e8}, "for_ms": 300000});
    let mut wrong = rule.clone();
    wrong["condition"]["resolve"] = json!(9.5e8);
    let bad = send("POST", "/api/rules", Some(wrong));
    assert_eq!(bad.status, 400);
    assert!(error_of(&bad).contains("resolve threshold"), "{}", bad.body);
    assert_eq!(send("POST", "/api/rules", Some(rule.clone())).status, 201);
    assert_eq!(send("POST", "/api/rules", Some(rule.clone())).status, 409);
    let mut lowered = rule.clone();
    lowered["condition"]["fire"] = json!(5e8);
    lowered["condition"]["resolve"] = json!(4e8);
    assert_eq!(
        send("PUT", "/api/rules/uplink-hot", Some(lowered)).status,
        200
    );
    let stored = http(node.port, "GET", "/api/rules/uplink-hot", &[], None).json();
    assert_eq!(stored["condition"]["fire"], 5e8);
    assert_eq!(
        send("PUT", "/api/rules/other", Some(rule.clone())).status,
        400,
        "id differs"
    );

    // Groups.
    let group = send(
        "PUT",
        "/api/groups/web-path",
        Some(json!({"entities": ["sw1/eth3", "alb/web>api"]})),
    );
    assert_eq!(group.status, 201, "{}", group.body);
    assert_eq!(
        send("PUT", "/api/groups/empty", Some(json!({"entities": []}))).status,
        400
    );
    assert_eq!(
        http(node.port, "GET", "/api/groups", &[], None).json()[0]["name"],
        "web-path"
    );

    // Removing.
    assert_eq!(send("DELETE", "/api/rules/uplink-hot", None).status, 204);
    assert_eq!(send("DELETE", "/api/rules/uplink-hot", None).status, 404);
    assert_eq!(
        send("DELETE", &format!("{path}?metric=bytes_per_s"), None).status,
        204
    );
    assert_eq!(http(node.port, "GET", path, &[], None).status, 404);
    assert_eq!(send("DELETE", "/api/groups/web-path", None).status, 204);

    // Every change, with who and before/after.
    let audit = send("GET", "/api/audit", None).json();
    let actions: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["actor"] == "token:planner")
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "capacity.create",
        "capacity.update",
        "capacity.delete",
        "rule.create",
        "rule.update",
        "rule.delete",
        "group.create",
        "group.delete",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    let update = audit
        .as_array()
        .and_then(|a| a.iter().find(|e| e["action"] == "capacity.update"))
        .expect("capacity.update");
    assert_eq!(update["before"]["capacity"], 1.25e9);
    assert_eq!(update["after"]["capacity"], 2.5e9);
}
