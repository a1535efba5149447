//! The signature against vectors computed by twilio-python's `RequestValidator`
//! (`tests/e2e/signature_vectors.py`; `tests/e2e/test_signature_vectors.py` re-checks them
//! against the installed SDK).

use super::sign;

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    token: String,
    url: String,
    params: Vec<(String, String)>,
    signature: String,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("../../../tests/data/twilio_signatures.json"))
        .expect("the vectors file is valid JSON")
}

fn pairs(v: &Vector) -> impl DoubleEndedIterator<Item = (&str, &str)> {
    v.params.iter().map(|(n, x)| (n.as_str(), x.as_str()))
}

#[test]
fn every_vector_signs_as_the_python_sdk_does() {
    let all = vectors();
    assert!(all.len() >= 10, "the vectors file lost cases");
    for v in &all {
        assert_eq!(sign(&v.token, &v.url, pairs(v)), v.signature, "{}", v.name);
    }
}

#[test]
fn twilios_documented_example() {
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert_eq!(sign("12345", url, params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
}

#[test]
fn the_order_parameters_come_in_does_not_matter_but_every_byte_does() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name.contains("repeated"))
        .expect("a repeated-parameter vector");
    let reversed: Vec<(&str, &str)> = pairs(&v).rev().collect();
    assert_eq!(sign(&v.token, &v.url, reversed), v.signature);
    let mut changed: Vec<(&str, &str)> = pairs(&v).collect();
    changed.push(("Extra", ""));
    assert_ne!(sign(&v.token, &v.url, changed), v.signature);
    assert_ne!(
        sign(&v.token, &format!("{}/", v.url), pairs(&v)),
        v.signature
    );
    assert_ne!(sign("other", &v.url, pairs(&v)), v.signature);
}
