//! Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), tested
//! from the specification: every resource in JSON and XML, `POST requests`
//! form-encoded with `api_key`, `GET requests` filters and defaults, tokens,
//! and errors as a list of `{code, description}` with that HTTP status.

mod cases_support;

use axum::http::{Method, StatusCode};
use cases_support::{Backend, IN_STREET, IN_YJ, World};
use serde_json::json;

async fn api_key(w: &World, who: &str) -> String {
    let r = w
        .post("/api/v1/tokens", who, json!({"name": "open311"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["secret"].as_str().unwrap().to_string()
}

async fn form(w: &World, path: &str, body: &str) -> cases_support::Resp {
    w.raw(
        Method::POST,
        path,
        None,
        Some((
            "application/x-www-form-urlencoded",
            body.as_bytes().to_vec(),
        )),
        &[],
    )
    .await
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Asserts the spec's error shape: a list of {code, description} whose
/// first code is the HTTP status.
fn assert_errors(r: &cases_support::Resp, status: u16) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    let list = r
        .body
        .as_array()
        .unwrap_or_else(|| panic!("errors are a list: {}", r.text));
    assert!(!list.is_empty());
    assert_eq!(list[0]["code"], status);
    assert!(
        list[0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_services() {
    let w = World::new(Backend::Sqlite, false).await;
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/discovery.json",
            None,
            None,
            &[("host", "cy.example:8080")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let ep = &r.body["endpoints"][0];
    assert_eq!(ep["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(ep["url"], "http://cy.example:8080/open311/v2");
    assert!(
        ep["formats"]
            .as_array()
            .unwrap()
            .contains(&json!("text/xml"))
    );
    let r = w
        .raw(Method::GET, "/open311/v2/discovery.xml", None, None, &[])
        .await;
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    assert!(r.text.starts_with("<?xml"), "{}", r.text);
    assert!(r.text.contains("<discovery>") && r.text.contains("<endpoints>"));

    // services: every matter class, grouped by major class
    let r = w
        .raw(Method::GET, "/open311/v2/services.json", None, None, &[])
        .await;
    let list = r.body.as_array().unwrap();
    assert!(list.len() > 50, "{}", list.len());
    let well = list.iter().find(|s| s["service_code"] == "01001").unwrap();
    for key in [
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ] {
        assert!(well.get(key).is_some(), "services need {key}: {well}");
    }
    assert_eq!(well["type"], "realtime");
    assert_eq!(well["metadata"], true);
    let r = w
        .raw(Method::GET, "/open311/v2/services.xml", None, None, &[])
        .await;
    assert!(r.text.contains("<services>") && r.text.contains("<service_code>01001</service_code>"));

    // a service definition
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/services/01001.json",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["service_code"], "01001");
    let attr = &r.body["attributes"][0];
    assert_eq!(attr["code"], "urgency");
    assert_eq!(attr["datatype"], "singlevaluelist");
    assert_eq!(attr["variable"], true);
    assert_eq!(attr["values"][1]["key"], "urgent");
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/services/01001.xml",
            None,
            None,
            &[],
        )
        .await;
    assert!(
        r.text.contains("<service_definition>")
            && r.text.contains("<datatype>singlevaluelist</datatype>")
    );
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/services/99999.json",
            None,
            None,
            &[],
        )
        .await;
    assert_errors(&r, 404);
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/services/99999.xml",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.text.contains("<errors>") && r.text.contains("<code>404</code>"),
        "{}",
        r.text
    );
    let r = w
        .raw(Method::GET, "/open311/v2/services.html", None, None, &[])
        .await;
    assert_errors(&r, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_and_get_requests() {
    let w = World::new(Backend::Sqlite, false).await;
    let public_key = api_key(&w, "inspector").await;
    let hotline_key = api_key(&w, "clerk").await;

    // POST requests.json with a point
    let body = format!(
        "api_key={}&service_code=01001&lat={}&long={}&description={}&first_name=%E5%BC%A0&last_name=%E4%B8%89&phone=13800000000&attribute%5Burgency%5D=urgent",
        enc(&public_key),
        IN_STREET.1,
        IN_STREET.0,
        enc("人民路口井盖缺失")
    );
    let r = form(&w, "/open311/v2/requests.json", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let sr_id = r.body[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = r.body[0]["token"].as_str().unwrap().to_string();
    assert!(sr_id.starts_with("YT"), "{sr_id}");
    let case = w.store.case_by_number(&sr_id).await.unwrap().unwrap();
    assert_eq!(case.data.source.as_str(), "public");
    assert_eq!(case.data.urgency.as_str(), "urgent");
    assert_eq!(
        w.store.case_reporters(case.id).await.unwrap()[0].channel,
        "open311"
    );

    // a hotline operator's key makes hotline cases; XML answer
    let body = format!(
        "api_key={}&service_code=01002&lat={}&long={}&description=x",
        enc(&hotline_key),
        IN_YJ.1,
        IN_YJ.0
    );
    let r = form(&w, "/open311/v2/requests.xml", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(
        r.text.contains("<service_requests>") && r.text.contains("<service_request_id>"),
        "{}",
        r.text
    );
    let hotline = w
        .store
        .list_cases(
            &Default::default(),
            &chengyun_domain::page::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(hotline.items[0].data.source.as_str(), "hotline");

    // errors: bad key 403, unknown service 404, missing location 400, bad attribute 400
    let r = form(
        &w,
        "/open311/v2/requests.json",
        &format!(
            "api_key=nope&service_code=01001&lat={}&long={}",
            IN_STREET.1, IN_STREET.0
        ),
    )
    .await;
    assert_errors(&r, 403);
    let r = form(
        &w,
        "/open311/v2/requests.json",
        &format!(
            "api_key={}&service_code=99999&lat=28.22&long=117.02",
            enc(&public_key)
        ),
    )
    .await;
    assert_errors(&r, 404);
    let r = form(
        &w,
        "/open311/v2/requests.json",
        &format!("api_key={}&service_code=01001", enc(&public_key)),
    )
    .await;
    assert_errors(&r, 400);
    let r = form(
        &w,
        "/open311/v2/requests.json",
        &format!(
            "api_key={}&service_code=01001&lat=28.22&long=117.02&attribute%5Burgency%5D=panic",
            enc(&public_key)
        ),
    )
    .await;
    assert_errors(&r, 400);
    let r = form(
        &w,
        "/open311/v2/requests.xml",
        &format!(
            "api_key={}&service_code=01001&lat=10&long=10",
            enc(&public_key)
        ),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "outside the city: {}",
        r.text
    );
    assert!(r.text.contains("<errors>"), "{}", r.text);

    // tokens
    let r = w
        .raw(
            Method::GET,
            &format!("/open311/v2/tokens/{token}.json"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body[0]["service_request_id"], sr_id.as_str());
    assert_eq!(r.body[0]["token"], token.as_str());
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/tokens/unknown.json",
            None,
            None,
            &[],
        )
        .await;
    assert_errors(&r, 404);

    // GET requests/{id}: open, status notes, agency, expected time once dispatched
    let r = w
        .raw(
            Method::GET,
            &format!("/open311/v2/requests/{sr_id}.json"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sr = &r.body[0];
    assert_eq!(sr["status"], "open");
    assert_eq!(sr["service_code"], "01001");
    assert_eq!(sr["lat"], IN_STREET.1);
    assert_eq!(sr["long"], IN_STREET.0);
    assert!(
        sr["requested_datetime"]
            .as_str()
            .unwrap()
            .ends_with("+08:00"),
        "{sr}"
    );
    assert_eq!(sr["agency_responsible"], "江边街道指挥中心");
    w.act(case.id, "clerk", json!({"action": "receive"})).await;
    w.act(case.id, "leader_shift", json!({"action": "register"}))
        .await;
    w.act(
        case.id,
        "dispatcher",
        json!({"action": "dispatch", "department": "YH-CGJ", "opinion": "请尽快处理"}),
    )
    .await;
    let r = w
        .raw(
            Method::GET,
            &format!("/open311/v2/requests/{sr_id}.json"),
            None,
            None,
            &[],
        )
        .await;
    let sr = &r.body[0];
    assert_eq!(sr["agency_responsible"], "月湖区城管局");
    assert!(
        sr["status_notes"]
            .as_str()
            .unwrap()
            .contains("派遣：请尽快处理"),
        "{sr}"
    );
    assert!(sr["expected_datetime"].is_string(), "{sr}");
    let r = w
        .raw(
            Method::GET,
            &format!("/open311/v2/requests/{sr_id}.xml"),
            None,
            None,
            &[],
        )
        .await;
    assert!(
        r.text.contains("<request>") && r.text.contains("<status>open</status>"),
        "{}",
        r.text
    );
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/requests/YT00000000000000.json",
            None,
            None,
            &[],
        )
        .await;
    assert_errors(&r, 404);

    // GET requests: defaults, filters
    let r = w
        .raw(Method::GET, "/open311/v2/requests.json", None, None, &[])
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 2, "{}", r.text);
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/requests.json?service_code=01002",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["service_code"], "01002");
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/requests.json?status=closed",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.body, json!([]));
    let r = w
        .raw(
            Method::GET,
            &format!("/open311/v2/requests.json?service_request_id={sr_id}&status=closed"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(
        r.body.as_array().unwrap().len(),
        1,
        "ids override the other filters"
    );
    let r = w.raw(Method::GET, "/open311/v2/requests.json?start_date=2010-01-01T00:00:00Z&end_date=2010-02-01T00:00:00Z", None, None, &[]).await;
    assert_eq!(r.body, json!([]));
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/requests.json?start_date=yesterday",
            None,
            None,
            &[],
        )
        .await;
    assert_errors(&r, 400);
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/requests.xml?status=open",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.text.matches("<request>").count(), 2, "{}", r.text);

    // cancelled cases are closed
    let body = format!(
        "api_key={}&service_code=01003&lat={}&long={}&description=x",
        enc(&public_key),
        IN_STREET.1,
        IN_STREET.0 + 0.01
    );
    let r = form(&w, "/open311/v2/requests.json", &body).await;
    let third = r.body[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = w.store.case_by_number(&third).await.unwrap().unwrap().id;
    w.act(
        id,
        "clerk",
        json!({"action": "cancel", "opinion": "无效举报"}),
    )
    .await;
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/requests.json?status=closed",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(r.body[0]["service_request_id"], third.as_str());
    assert_eq!(r.body[0]["status"], "closed");
    assert!(
        r.body[0]["status_notes"]
            .as_str()
            .unwrap()
            .contains("无效举报")
    );
    let r = w
        .raw(
            Method::GET,
            "/open311/v2/requests.json?status=open,closed",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 3);
}
