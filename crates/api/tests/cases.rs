//! The case loop over HTTP: every workflow branch as the right roles on
//! SQLite and PostgreSQL, refusals with the allowed actions, idempotency,
//! attachments, lists and the queue, rules, settings, evaluation, the live
//! feed's scope filtering and resume, and signed, retried webhooks.

mod cases_support;

use axum::http::{Method, StatusCode};
use cases_support::{Backend, IN_STREET, IN_YJ, World, allowed, state};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn full_flow(w: &World) {
    let v = w.report("clerk", "01001", IN_STREET).await;
    let id = v["case"]["id"].as_i64().unwrap();
    assert_eq!(state(&v), "reported");
    assert_eq!(v["case"]["snapshot"]["center_department"], "JB-CENTER");
    assert_eq!(v["case"]["area_code"], "360602001");
    assert_eq!(v["flow"].as_array().unwrap().len(), 1);
    assert!(allowed(&v).contains(&"request_verify".to_string()));
    let insp = w.id("inspector");

    // a handler may not act on a reported case: no buttons, and 409 with the state
    let hv = w.get(&format!("/api/v1/cases/{id}"), "handler").await;
    assert_eq!(hv.status, StatusCode::OK, "{}", hv.text);
    assert!(allowed(&hv.body).is_empty(), "{:?}", allowed(&hv.body));
    let d = w.refused(id, "handler", json!({"action": "accept"})).await;
    assert_eq!(d["state"], "reported");
    assert_eq!(d["allowed"], json!([]));

    // 核实 → 立案 → 派遣 → 签收
    let v = w
        .act(
            id,
            "clerk",
            json!({"action": "request_verify", "inspector": insp}),
        )
        .await;
    assert_eq!(state(&v), "awaiting_verification");
    assert_eq!(v["timer"]["clock"], "verify");
    let v = w
        .act(
            id,
            "inspector",
            json!({"action": "verify", "confirmed": true}),
        )
        .await;
    assert_eq!(state(&v), "awaiting_registration");
    // the clerk may not register: wrong role, the leader's action is not among the clerk's
    let d = w.refused(id, "clerk", json!({"action": "register"})).await;
    assert_eq!(d["reason"], "not_permitted");
    assert!(
        !d["allowed"]
            .as_array()
            .unwrap()
            .contains(&json!("register"))
    );
    let lv = w.get(&format!("/api/v1/cases/{id}"), "leader_shift").await;
    assert!(allowed(&lv.body).contains(&"register".to_string()));
    let v = w
        .act(id, "leader_shift", json!({"action": "register"}))
        .await;
    assert_eq!(state(&v), "registered");
    let sug = w
        .get(
            &format!("/api/v1/cases/{id}/dispatch-suggestion"),
            "dispatcher",
        )
        .await;
    assert_eq!(sug.status, StatusCode::OK, "{}", sug.text);
    assert!(sug.body["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let v = w
        .act(
            id,
            "dispatcher",
            json!({"action": "dispatch", "department": "YH-CGJ"}),
        )
        .await;
    assert_eq!(state(&v), "dispatched");
    assert_eq!(v["timer"]["clock"], "dispose");
    assert_eq!(v["timer"]["colour"], "green");
    let hv = w.get(&format!("/api/v1/cases/{id}"), "handler").await;
    assert!(allowed(&hv.body).contains(&"accept".to_string()));
    let v = w.act(id, "handler", json!({"action": "accept"})).await;
    assert_eq!(state(&v), "handling");

    // 回退 needs an opinion; the refusal names the state and what is allowed
    let d = w.refused(id, "handler", json!({"action": "return"})).await;
    assert_eq!(d["reason"], "opinion_required");
    assert_eq!(d["state"], "handling");
    assert!(
        d["allowed"]
            .as_array()
            .unwrap()
            .contains(&json!("feedback"))
    );
    let v = w
        .act(
            id,
            "handler",
            json!({"action": "return", "opinion": "不属于我局职责"}),
        )
        .await;
    assert_eq!(state(&v), "return_requested");
    assert_eq!(
        v["flow"].as_array().unwrap().last().unwrap()["opinion"],
        "不属于我局职责"
    );
    w.act(
        id,
        "dispatcher",
        json!({"action": "reject_return", "opinion": "属于城管职责"}),
    )
    .await;
    w.act(id, "handler", json!({"action": "accept"})).await;

    // 延期: requested by the handler, approved by the dispatcher
    let before = w.get(&format!("/api/v1/cases/{id}"), "handler").await.body["timer"]["deadline"]
        .as_str()
        .unwrap()
        .to_string();
    w.act(
        id,
        "handler",
        json!({"action": "request_extension", "extra": {"value": 1, "unit": "urgent_hours"}, "opinion": "需要调配井盖"}),
    )
    .await;
    let d = w
        .refused(id, "handler", json!({"action": "approve_extension"}))
        .await;
    assert_eq!(d["reason"], "not_permitted");
    let v = w
        .act(id, "dispatcher", json!({"action": "approve_extension"}))
        .await;
    let after = v["timer"]["deadline"].as_str().unwrap();
    let b = chrono::DateTime::parse_from_rfc3339(&before).unwrap();
    let a = chrono::DateTime::parse_from_rfc3339(after).unwrap();
    assert_eq!(a - b, chrono::Duration::hours(1));

    // 挂账 / 恢复
    let v = w
        .act(
            id,
            "dispatcher",
            json!({"action": "hang", "opinion": "等待供水公司"}),
        )
        .await;
    assert_eq!(v["timer"]["paused"], true);
    let v = w
        .act(
            id,
            "dispatcher",
            json!({"action": "resume", "opinion": "供水公司已到场"}),
        )
        .await;
    assert_eq!(v["timer"]["paused"], false);

    // 督办 by a higher-tier leader
    let v = w
        .act(
            id,
            "boss",
            json!({"action": "supervise", "opinion": "请尽快处理"}),
        )
        .await;
    assert_eq!(v["case"]["snapshot"]["supervision_count"], 1);

    // feedback → check fails → rework → feedback → check passes → close
    w.act(id, "handler", json!({"action": "feedback"})).await;
    w.act(
        id,
        "clerk",
        json!({"action": "request_check", "inspector": insp}),
    )
    .await;
    let v = w
        .act(
            id,
            "inspector",
            json!({"action": "check_fail", "opinion": "井盖尺寸不符"}),
        )
        .await;
    assert_eq!(state(&v), "handling");
    assert_eq!(v["case"]["snapshot"]["rework_count"], 1);
    w.act(id, "handler", json!({"action": "feedback"})).await;
    w.act(
        id,
        "clerk",
        json!({"action": "request_check", "inspector": insp}),
    )
    .await;
    w.act(id, "inspector", json!({"action": "check_pass"}))
        .await;
    let v = w.act(id, "dispatcher", json!({"action": "close"})).await;
    assert_eq!(state(&v), "closed");
    assert_eq!(v["case"]["snapshot"]["close_kind"], "normal");
    assert!(allowed(&v).is_empty());
    let d = w
        .refused(id, "dispatcher", json!({"action": "close"}))
        .await;
    assert_eq!(d["state"], "closed");
    assert_eq!(d["reason"], "wrong_state");
    let actions: Vec<&str> = v["flow"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"report"));
    assert_eq!(actions.iter().filter(|a| **a == "check_fail").count(), 1);

    // 作废
    let c = w.report("clerk", "01002", IN_STREET).await;
    let cid = c["case"]["id"].as_i64().unwrap();
    w.act(cid, "clerk", json!({"action": "receive"})).await;
    let d = w
        .refused(cid, "leader_shift", json!({"action": "cancel"}))
        .await;
    assert_eq!(d["reason"], "opinion_required");
    let v = w
        .act(
            cid,
            "leader_shift",
            json!({"action": "cancel", "opinion": "重复举报"}),
        )
        .await;
    assert_eq!(state(&v), "cancelled");

    // 申诉 against a timeout: overdue after the sweep, appealed, upheld
    let c = w
        .report("clerk", "01003", (IN_STREET.0 + 0.01, IN_STREET.1))
        .await;
    let aid = c["case"]["id"].as_i64().unwrap();
    w.act(aid, "clerk", json!({"action": "receive"})).await;
    w.act(aid, "leader_shift", json!({"action": "register"}))
        .await;
    w.act(
        aid,
        "dispatcher",
        json!({"action": "dispatch", "department": "YH-CGJ"}),
    )
    .await;
    let hv = w.get(&format!("/api/v1/cases/{aid}"), "handler").await;
    assert!(!allowed(&hv.body).contains(&"appeal".to_string()));
    w.advance(chrono::Duration::hours(5));
    let r = w.state.cases().sweep(w.now()).await.unwrap();
    assert!(r.overdue >= 1, "{r:?}");
    let hv = w.get(&format!("/api/v1/cases/{aid}"), "handler").await;
    assert_eq!(hv.body["case"]["snapshot"]["overdue"], true);
    assert_eq!(hv.body["timer"]["colour"], "red");
    assert!(allowed(&hv.body).contains(&"appeal".to_string()));
    let overdue = w.get("/api/v1/cases?overdue=true", "dispatcher").await;
    assert!(
        overdue.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == aid)
    );
    w.act(
        aid,
        "handler",
        json!({"action": "appeal", "opinion": "暴雨导致无法施工"}),
    )
    .await;
    let v = w
        .act(
            aid,
            "leader_shift",
            json!({"action": "decide_appeal", "upheld": true}),
        )
        .await;
    assert_eq!(v["case"]["snapshot"]["overdue"], false);

    // a district user of another district does not see these cases
    let r = w.get(&format!("/api/v1/cases/{id}"), "yj_dispatcher").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "out_of_scope");
    let r = w.get("/api/v1/cases", "yj_dispatcher").await;
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_sqlite() {
    let w = World::new(Backend::Sqlite, true).await;
    full_flow(&w).await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_postgres() {
    let w = World::new(Backend::Postgres, true).await;
    full_flow(&w).await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_and_bad_input() {
    let w = World::new(Backend::Sqlite, true).await;
    let body = json!({"matter_code": "01001", "lon": IN_STREET.0, "lat": IN_STREET.1, "description": "井盖"});
    let first = w
        .call(
            Method::POST,
            "/api/v1/cases",
            Some("clerk"),
            Some(body.clone()),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = w
        .call(
            Method::POST,
            "/api/v1/cases",
            Some("clerk"),
            Some(body.clone()),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(first.body["case"]["id"], again.body["case"]["id"]);
    assert_eq!(first.body["case"]["number"], again.body["case"]["number"]);
    let mut other = body.clone();
    other["matter_code"] = json!("01002");
    let clash = w
        .call(
            Method::POST,
            "/api/v1/cases",
            Some("clerk"),
            Some(other),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text);
    assert_eq!(clash.body["error"]["code"], "idempotency_conflict");
    let all = w.get("/api/v1/cases", "admin").await;
    assert_eq!(
        all.body["items"].as_array().unwrap().len(),
        1,
        "one case only"
    );

    // neither location nor matter; unknown code; outside the city
    let r = w
        .post("/api/v1/cases", "clerk", json!({"description": "有问题"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "invalid_input");
    assert_eq!(
        r.body["error"]["details"][0]["field"], "location",
        "{}",
        r.text
    );
    let r = w
        .post(
            "/api/v1/cases",
            "clerk",
            json!({"matter_code": "99999", "lon": IN_STREET.0, "lat": IN_STREET.1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("99999"), "{}", r.text);
    let r = w
        .post(
            "/api/v1/cases",
            "clerk",
            json!({"matter_code": "01001", "lon": 120.0, "lat": IN_STREET.1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("outside every area"), "{}", r.text);
    let r = w
        .post(
            "/api/v1/cases/999/actions",
            "clerk",
            json!({"action": "receive"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = w
        .post("/api/v1/cases/1/actions", "clerk", json!({"action": "fly"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = w
        .call(Method::POST, "/api/v1/cases", None, Some(body), &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let all = w.get("/api/v1/cases", "admin").await;
    assert_eq!(
        all.body["items"].as_array().unwrap().len(),
        1,
        "nothing half stored"
    );
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_checked_and_linked() {
    let w = World::new(Backend::Sqlite, true).await;
    let up = |ct: &'static str, bytes: Vec<u8>| {
        let w = &w;
        async move {
            w.raw(
                Method::POST,
                "/api/v1/attachments?name=photo.png",
                Some("inspector"),
                Some((ct, bytes)),
                &[],
            )
            .await
        }
    };
    let r = up("image/png", PNG.to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["content_type"], "image/png");
    let att = r.body["id"].as_str().unwrap().to_string();
    // over the limit (64 KiB in this world) → 413
    let mut big = PNG.to_vec();
    big.resize(65 * 1024, 0);
    let r = up("image/png", big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "payload_too_large");
    // HTML is not an attachment, whatever it claims → 415
    let r = up("image/png", b"<html><script>alert(1)</script>".to_vec()).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "unsupported_attachment");
    let r = up("text/html", PNG.to_vec()).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = up("application/pdf", PNG.to_vec()).await;
    assert_eq!(
        r.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "declared pdf, content png"
    );
    let r = up("image/png", Vec::new()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // unlinked: only the uploader reads it
    let r = w
        .get(&format!("/api/v1/attachments/{att}"), "inspector")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, PNG);
    assert_eq!(r.headers["content-type"], "image/png");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    let r = w
        .get(&format!("/api/v1/attachments/{att}"), "yj_dispatcher")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // linked by an action: the case's scope decides
    let v = w.report("clerk", "01001", IN_STREET).await;
    let id = v["case"]["id"].as_i64().unwrap();
    w.act(
        id,
        "clerk",
        json!({"action": "request_verify", "inspector": w.id("inspector")}),
    )
    .await;
    let v = w
        .act(
            id,
            "inspector",
            json!({"action": "verify", "confirmed": true, "attachments": [att]}),
        )
        .await;
    assert_eq!(v["attachments"][0]["id"], att.as_str());
    assert_eq!(
        v["flow"].as_array().unwrap().last().unwrap()["attachments"],
        json!([att])
    );
    let r = w
        .get(&format!("/api/v1/attachments/{att}"), "dispatcher")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = w
        .get(&format!("/api/v1/attachments/{att}"), "yj_dispatcher")
        .await;
    assert_eq!(r.body["error"]["code"], "out_of_scope");
    let r = w
        .post(
            &format!("/api/v1/cases/{id}/actions"),
            "leader_shift",
            json!({"action": "register", "attachments": ["no-such-file"]}),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_queue_merge_rules_settings_evaluation() {
    let w = World::new(Backend::Sqlite, true).await;
    let a = w.report("clerk", "01001", IN_STREET).await;
    let b = w
        .report("clerk", "01001", (IN_STREET.0, IN_STREET.1 + 0.0003))
        .await;
    let yj = w.report("clerk", "01002", IN_YJ).await;
    let (a_id, b_id) = (
        a["case"]["id"].as_i64().unwrap(),
        b["case"]["id"].as_i64().unwrap(),
    );
    assert_eq!(b["case"]["likely_duplicate_of"], a_id);
    assert_eq!(yj["case"]["snapshot"]["center_department"], "YJ-CENTER");

    // filters
    let r = w
        .get("/api/v1/cases?state=reported&matter=01001", "admin")
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.text);
    let r = w.get("/api/v1/cases?state=nonsense", "admin").await;
    assert_eq!(r.body["error"]["code"], "invalid_input");
    let r = w.get("/api/v1/cases?area=360603", "admin").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = w.get("/api/v1/cases?area=360603", "dispatcher").await;
    assert_eq!(r.body["error"]["code"], "out_of_scope");
    let r = w.get("/api/v1/cases?q=人民路", "admin").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3);
    let r = w.get("/api/v1/cases?source=hotline", "admin").await;
    assert_eq!(r.body["items"], json!([]));
    let r = w.get("/api/v1/cases?limit=1", "admin").await;
    assert!(r.body["next_cursor"].is_string());
    // my queue: the street clerk sees both street reports, the handler nothing yet
    let r = w.get("/api/v1/cases?mine=true", "clerk").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.text);
    let r = w.get("/api/v1/cases?mine=true", "handler").await;
    assert_eq!(r.body["items"], json!([]));

    // merge the duplicate
    let r = w
        .post(
            &format!("/api/v1/cases/{a_id}/merge"),
            "clerk",
            json!({"into": b_id, "opinion": "同一井盖"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["reporters"].as_array().unwrap().len(), 2);
    let r = w
        .post(
            &format!("/api/v1/cases/{a_id}/merge"),
            "handler",
            json!({"into": b_id}),
        )
        .await;
    assert!(r.status.is_client_error());

    // dispatch rules: the dispatcher keeps those of their area
    let rule = json!({"matter_pattern": "01*", "area_code": "360602001", "department_code": "YH-CGJ", "priority": 1});
    let r = w
        .post("/api/v1/dispatch-rules", "dispatcher", rule.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let rid = r.body["id"].as_i64().unwrap();
    let r = w
        .post("/api/v1/dispatch-rules", "handler", rule.clone())
        .await;
    assert_eq!(r.body["error"]["code"], "forbidden");
    let r = w
        .post(
            "/api/v1/dispatch-rules",
            "dispatcher",
            json!({"matter_pattern": "0x", "area_code": "abc", "department_code": ""}),
        )
        .await;
    assert_eq!(
        r.body["error"]["details"].as_array().unwrap().len(),
        3,
        "{}",
        r.text
    );
    let r = w
        .get(
            &format!("/api/v1/cases/{b_id}/dispatch-suggestion"),
            "dispatcher",
        )
        .await;
    assert_eq!(r.body["department_code"], "YH-CGJ");
    assert_eq!(r.body["rule_id"], rid);
    let mut changed = rule.clone();
    changed["enabled"] = json!(false);
    let r = w
        .call(
            Method::PUT,
            &format!("/api/v1/dispatch-rules/{rid}"),
            Some("admin"),
            Some(changed),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .call(
            Method::DELETE,
            &format!("/api/v1/dispatch-rules/{rid}"),
            Some("yj_dispatcher"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.body["error"]["code"], "out_of_scope");
    let r = w
        .call(
            Method::DELETE,
            &format!("/api/v1/dispatch-rules/{rid}"),
            Some("admin"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.get("/api/v1/dispatch-rules", "admin").await.body,
        json!([])
    );

    // settings: read, validated write, audited
    let r = w.get("/api/v1/settings/dedupe", "dispatcher").await;
    assert_eq!(r.body["radius_m"], 50.0);
    let r = w
        .call(
            Method::PUT,
            "/api/v1/settings/dedupe",
            Some("dispatcher"),
            Some(json!({"radius_m": 80.0, "window_hours": 12})),
            &[],
        )
        .await;
    assert_eq!(r.body["error"]["code"], "forbidden");
    let r = w
        .call(
            Method::PUT,
            "/api/v1/settings/dedupe",
            Some("admin"),
            Some(json!({"radius_m": -1.0, "window_hours": 12})),
            &[],
        )
        .await;
    assert_eq!(r.body["error"]["code"], "invalid_input");
    let r = w
        .call(
            Method::PUT,
            "/api/v1/settings/dedupe",
            Some("admin"),
            Some(json!({"radius_m": 80.0, "window_hours": 12})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(w.state.cases().settings().dedupe.radius_m, 80.0);
    let audit = w.get("/api/v1/audit?action=setting.update", "admin").await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        audit.text
    );
    let cal = w.get("/api/v1/settings/calendar", "admin").await;
    assert_eq!(cal.status, StatusCode::OK);
    let r = w
        .call(
            Method::PUT,
            "/api/v1/settings/calendar",
            Some("admin"),
            Some(cal.body.clone()),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = w
        .call(
            Method::PUT,
            "/api/v1/settings/limits",
            Some("admin"),
            Some(json!({"rules": "no"})),
            &[],
        )
        .await;
    assert_eq!(r.body["error"]["code"], "invalid_input");
    let r = w.get("/api/v1/settings/nope", "admin").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // evaluation: JSON, CSV, headline; scope applies
    let r = w
        .get("/api/v1/evaluation?group=area&level=district", "admin")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["rows"].is_array());
    let r = w
        .get("/api/v1/evaluation?group=department&format=csv", "admin")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.text.lines().next().is_some_and(|h| h.contains(',')),
        "{}",
        r.text
    );
    let r = w.get("/api/v1/evaluation?group=galaxy", "admin").await;
    assert_eq!(r.body["error"]["code"], "invalid_input");
    let r = w.get("/api/v1/evaluation?area=360603", "dispatcher").await;
    assert_eq!(r.body["error"]["code"], "out_of_scope");
    let r = w.get("/api/v1/evaluation/headline", "admin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body.is_object());

    // classification
    let r = w
        .get(
            "/api/v1/classify?text=%E4%BA%95%E7%9B%96%E4%B8%A2%E5%A4%B1",
            "clerk",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let first = &r.body[0];
    assert!(
        first["code"].as_str().is_some_and(|c| c.len() == 5),
        "{}",
        r.text
    );
    assert!(first["reason"].as_str().is_some_and(|c| !c.is_empty()));
    let r = w.get("/api/v1/classify?text=", "clerk").await;
    assert_eq!(r.body["error"]["code"], "invalid_input");
}

/// Reads SSE text from a streaming body until `done` holds or `secs` pass.
async fn read_sse(body: axum::body::Body, secs: u64, done: impl Fn(&str) -> bool) -> String {
    let mut stream = body.into_data_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done(&text) {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

async fn open_stream(
    w: &World,
    who: &str,
    extra: &[(&str, &str)],
    query: &str,
) -> axum::http::Response<axum::body::Body> {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder()
        .uri(format!("/api/v1/stream{query}"))
        .header("cookie", &w.auth[who]);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = w
        .app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    res
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_feed_is_scoped_and_resumable() {
    let w = World::new(Backend::Sqlite, true).await;
    let yj_stream = open_stream(&w, "yj_dispatcher", &[], "").await;
    let street_stream = open_stream(&w, "dispatcher", &[], "?types=case.").await;
    // the other district's case first, then each viewer's own
    let street = w.report("clerk", "01001", IN_STREET).await;
    let yj = w.report("clerk", "01002", IN_YJ).await;
    let street_no = street["case"]["number"].as_str().unwrap().to_string();
    let yj_no = yj["case"]["number"].as_str().unwrap().to_string();
    let got = read_sse(yj_stream.into_body(), 5, |t| t.contains(&yj_no)).await;
    assert!(got.contains(&yj_no), "the YJ viewer gets its case: {got}");
    assert!(
        !got.contains(&street_no),
        "and not the other district's: {got}"
    );
    assert!(got.contains("event: case.changed"), "{got}");
    let data = got.lines().find(|l| l.starts_with("data:")).unwrap();
    let env: Value = serde_json::from_str(data.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(env["type"], "case.changed");
    assert!(env["id"].as_u64().is_some());
    assert!(env["at"].is_string());
    assert_eq!(env["data"]["number"], yj_no.as_str());
    // the street viewer is not sent the YJ case (published after its own)
    w.act(
        street["case"]["id"].as_i64().unwrap(),
        "clerk",
        json!({"action": "receive"}),
    )
    .await;
    let got = read_sse(street_stream.into_body(), 5, |t| {
        t.contains("\"change\":\"receive\"")
    })
    .await;
    assert!(got.contains(&street_no), "{got}");
    assert!(!got.contains(&yj_no), "{got}");

    // resume: from id 0 the buffered events come again; an unknown id gets resync
    let res = open_stream(&w, "admin", &[("last-event-id", "0")], "").await;
    let got = read_sse(res.into_body(), 5, |t| {
        t.contains(&street_no) && t.contains(&yj_no)
    })
    .await;
    assert!(got.contains(&street_no) && got.contains(&yj_no), "{got}");
    let first_id: u64 = got
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(first_id, 1);
    let res = open_stream(&w, "admin", &[("last-event-id", "99999")], "").await;
    let got = read_sse(res.into_body(), 5, |t| t.contains("resync")).await;
    assert!(got.contains("event: resync"), "{got}");
    let r = w
        .raw(
            Method::GET,
            "/api/v1/stream",
            Some("admin"),
            None,
            &[("last-event-id", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = w.raw(Method::GET, "/api/v1/stream", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// One request the receiver got: its headers and body.
type Seen = (axum::http::HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut seen = r.seen.lock().unwrap();
    seen.push((headers, body.to_vec()));
    // fail twice per delivery, then accept
    let delivery = seen.last().unwrap().0["x-chengyun-delivery"].clone();
    let tries = seen
        .iter()
        .filter(|(h, _)| h["x-chengyun-delivery"] == delivery)
        .count();
    if tries <= 2 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_and_retried() {
    let w = World::new(Backend::Sqlite, false).await;
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let secret = "a very secret key 123";
    let r = w
        .post("/api/v1/webhooks", "admin", json!({"url": format!("http://{addr}/hook"), "secret": secret, "event_filter": "case.changed.created"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body.get("secret").is_none());
    assert_eq!(r.body["secret_hint"], "a ve…");
    let r = w
        .post(
            "/api/v1/webhooks",
            "dispatcher",
            json!({"url": "http://x/", "secret": secret}),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "forbidden");
    let r = w
        .post(
            "/api/v1/webhooks",
            "admin",
            json!({"url": "https://x.example/", "secret": "short"}),
        )
        .await;
    assert_eq!(
        r.body["error"]["details"].as_array().unwrap().len(),
        2,
        "{}",
        r.text
    );

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let config = chengyun_api::webhooks::WebhookConfig {
        poll_interval: Duration::from_millis(50),
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        ..Default::default()
    };
    let worker = chengyun_api::webhooks::spawn_worker(
        w.store.clone(),
        w.state.feed().clone(),
        config,
        stop_rx,
    );
    let v = w.report("clerk", "01001", IN_STREET).await;
    let number = v["case"]["number"].as_str().unwrap().to_string();
    // an action's event does not match the filter and is not delivered
    w.act(
        v["case"]["id"].as_i64().unwrap(),
        "clerk",
        json!({"action": "receive"}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while receiver.seen.lock().unwrap().len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        3,
        "two failures and one success, then nothing more"
    );
    let delivery = seen[0].0["x-chengyun-delivery"].clone();
    for (h, body) in &seen {
        assert_eq!(
            h["x-chengyun-delivery"], delivery,
            "the same delivery each time"
        );
        assert_eq!(h["x-chengyun-event"], "case.changed");
        assert_eq!(h["content-type"], "application/json");
        let sig = h["x-chengyun-signature"].to_str().unwrap();
        assert!(
            chengyun_api::webhooks::verify(secret, body, sig),
            "signature {sig}"
        );
        assert!(!chengyun_api::webhooks::verify(
            "another secret!!",
            body,
            sig
        ));
        let env: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(env["type"], "case.changed");
        assert_eq!(env["data"]["change"], "created");
        assert_eq!(env["data"]["number"], number.as_str());
    }
    assert!(
        w.store
            .due_deliveries(chrono::Utc::now() + chrono::Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty(),
        "delivered, nothing left to retry"
    );
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .unwrap()
        .unwrap();

    let list = w.get("/api/v1/webhooks", "admin").await;
    let id = list.body[0]["id"].as_i64().unwrap();
    let r = w
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some("admin"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}
