use parley_tests::TestApp;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_created_contact_is_listed_at_once() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({
                    "accountId": account, "phone": "+14155550123", "name": "Ada Lovelace",
                    "tags": ["vip"], "groups": ["customers"], "customFields": {"plan": "pro"}
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["contact"]["phone"], "+14155550123");
    let (status, list) = app
        .send(app.request(
            Method::GET,
            &format!("/v1/whatsapp/contacts?accountId={account}"),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["contacts"][0]["name"], "Ada Lovelace");
    assert_eq!(list["filters"]["tags"], json!(["vip"]));
}
