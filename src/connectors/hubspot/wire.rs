//! Serde models for HubSpot CRM v3 responses, exactly as the API sends them.
//!
//! HubSpot sends every property value as a string (or `null`), including numbers, booleans and
//! timestamps, so the models keep them as `Option<String>` and typed accessors parse on demand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One CRM object (contact, company, deal, task, note) as returned by
/// `GET /crm/v3/objects/{type}` or `.../search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmObject {
    /// HubSpot record id (numeric, sent as a string).
    pub id: String,
    /// Requested properties; values are strings or null.
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    /// ISO-8601 creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// ISO-8601 last update time.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Whether the record is archived (deleted).
    #[serde(default)]
    pub archived: bool,
    /// Associations requested with `associations=...`, keyed by the other object type (plural).
    #[serde(default)]
    pub associations: BTreeMap<String, AssociationPage>,
}

impl CrmObject {
    /// A property value, treating `null` and empty strings as absent.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(|v| v.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Ids of associated objects of one type (`"contacts"`, `"companies"`, `"deals"`).
    pub fn associated_ids(&self, to_type: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .associations
            .get(to_type)
            .map(|p| p.results.iter().map(|a| a.id.clone()).collect())
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// The associations block embedded in a v3 object read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationPage {
    /// Associated records.
    #[serde(default)]
    pub results: Vec<AssociationRef>,
    /// Cursor when there are more associations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// One associated record reference (`{"id": "...", "type": "contact_to_company"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationRef {
    /// The associated record's id.
    pub id: String,
    /// Association label such as `contact_to_company`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// A page of objects from a list or search endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectPage {
    /// Total matches (search endpoints only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The records on this page.
    #[serde(default)]
    pub results: Vec<CrmObject>,
    /// Cursor to the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// Paging block: `{"next": {"after": "...", "link": "..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paging {
    /// The next page, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextPage>,
}

/// Cursor to the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextPage {
    /// Opaque cursor for the `after` parameter.
    pub after: String,
    /// Convenience link HubSpot sends alongside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `GET /crm/v3/pipelines/deals` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineList {
    /// All pipelines for the object type.
    pub results: Vec<Pipeline>,
}

/// A deal pipeline with its ordered stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// Pipeline id (`"default"` for the built-in one).
    pub id: String,
    /// Human label.
    pub label: String,
    /// Sort order among pipelines.
    #[serde(default)]
    pub display_order: i64,
    /// Stages of the pipeline.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Whether the pipeline is archived.
    #[serde(default)]
    pub archived: bool,
}

/// A pipeline stage; `metadata.probability` and `metadata.isClosed` arrive as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Stage id (the value of a deal's `dealstage`).
    pub id: String,
    /// Human label.
    pub label: String,
    /// Sort order within the pipeline.
    #[serde(default)]
    pub display_order: i64,
    /// Stage metadata.
    #[serde(default)]
    pub metadata: StageMetadata,
    /// Whether the stage is archived.
    #[serde(default)]
    pub archived: bool,
}

/// Stage metadata as HubSpot sends it (strings, sometimes numbers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageMetadata {
    /// Win probability, `"0.2"`.
    #[serde(default)]
    pub probability: Option<serde_json::Value>,
    /// `"true"` for closed won / closed lost stages.
    #[serde(default)]
    pub is_closed: Option<serde_json::Value>,
}

impl StageMetadata {
    /// Win probability in 0..=1; missing or unparsable values count as 0.
    pub fn probability(&self) -> f64 {
        let p = match &self.probability {
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().unwrap_or(0.0),
            Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            _ => 0.0,
        };
        if p.is_finite() { p.clamp(0.0, 1.0) } else { 0.0 }
    }

    /// Whether the stage closes the deal (won or lost).
    pub fn is_closed(&self) -> bool {
        match &self.is_closed {
            Some(serde_json::Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
            Some(serde_json::Value::Bool(b)) => *b,
            _ => false,
        }
    }
}

/// `POST /crm/v4/associations/{from}/{to}/batch/read` response. Records without associations
/// of that type are simply absent from `results` (HubSpot lists them under `errors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationBatch {
    /// One entry per record that has associations.
    #[serde(default)]
    pub results: Vec<AssociationBatchResult>,
}

/// The associations of one record in a v4 batch read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationBatchResult {
    /// The record asked about.
    pub from: AssociationFrom,
    /// What it is associated with.
    #[serde(default)]
    pub to: Vec<AssociationTo>,
}

/// `{"id": "123"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationFrom {
    /// Record id.
    pub id: String,
}

/// One associated record in v4: the id is a number on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationTo {
    /// Associated record id.
    pub to_object_id: serde_json::Value,
    /// Association types (labels), ignored by CaseyOS.
    #[serde(default)]
    pub association_types: Vec<serde_json::Value>,
}

impl AssociationTo {
    /// The id as text, whether HubSpot sent a number or a string.
    pub fn id(&self) -> Option<String> {
        match &self.to_object_id {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        }
    }
}

/// `GET /crm/v3/owners` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerPage {
    /// Owners (users who can own records).
    #[serde(default)]
    pub results: Vec<Owner>,
    /// Cursor to the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// A HubSpot owner: the user a deal or contact belongs to (`hubspot_owner_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Owner id (the value of `hubspot_owner_id`).
    pub id: String,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Whether the user was deactivated.
    #[serde(default)]
    pub archived: bool,
}

/// HubSpot's standard error body (`{category, correlationId, message, ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Machine category, e.g. `VALIDATION_ERROR`.
    #[serde(default)]
    pub category: Option<String>,
    /// Human message.
    #[serde(default)]
    pub message: Option<String>,
    /// Request id for HubSpot support.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Rate-limit errors carry `errorType: RATE_LIMIT`.
    #[serde(default)]
    pub error_type: Option<String>,
    /// Rate-limit policy: `TEN_SECONDLY_ROLLING` or `DAILY`.
    #[serde(default)]
    pub policy_name: Option<String>,
    /// One entry per problem in a `VALIDATION_ERROR`.
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
}

/// One problem in an error body's `errors[]` (`{message, code, context: {propertyName: [..]}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Human message, e.g. `"foo" was not one of the allowed options`.
    #[serde(default)]
    pub message: Option<String>,
    /// Machine code, e.g. `INVALID_OPTION`.
    #[serde(default)]
    pub code: Option<String>,
    /// Where: `{"propertyName": ["dealstage"]}`.
    #[serde(default)]
    pub context: Option<serde_json::Value>,
}

/// Body of `POST /crm/v3/objects/{type}` (create one record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateObject {
    /// Property values, all as strings.
    pub properties: BTreeMap<String, String>,
    /// Records to associate the new one with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<NewAssociation>,
}

/// One association of a record being created:
/// `{"to": {"id": "…"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAssociation {
    /// The other record.
    pub to: AssociationFrom,
    /// Association types (one, HubSpot-defined, for CaseyOS).
    pub types: Vec<AssociationSpec>,
}

/// An association type: category and numeric id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    /// `HUBSPOT_DEFINED` for the built-in types.
    pub association_category: String,
    /// E.g. 204 (task → contact).
    pub association_type_id: u32,
}

/// Body of `PATCH /crm/v3/objects/{type}/{id}`: only the properties to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateObject {
    /// New property values.
    pub properties: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_list_page_with_associations_and_paging() {
        let json = r#"{
          "results": [{
            "id": "51", "properties": {"email": "a@b.co", "firstname": null, "lastname": ""},
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-02T00:00:00Z", "archived": false,
            "associations": {"companies": {"results": [{"id": "7", "type": "contact_to_company"},
                                                       {"id": "7", "type": "contact_to_company_unlabeled"}]}}
          }],
          "paging": {"next": {"after": "52", "link": "https://x"}}
        }"#;
        let page: ObjectPage = serde_json::from_str(json).unwrap();
        let c = &page.results[0];
        assert_eq!(c.prop("email"), Some("a@b.co"));
        assert_eq!(c.prop("firstname"), None);
        assert_eq!(c.prop("lastname"), None);
        assert_eq!(c.associated_ids("companies"), vec!["7".to_string()]);
        assert_eq!(page.paging.unwrap().next.unwrap().after, "52");
    }

    #[test]
    fn parses_a_v4_association_batch_and_an_owner_page() {
        let json = r#"{"status":"COMPLETE","results":[
            {"from":{"id":"51"},"to":[{"toObjectId":7,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":1,"label":null}]},
                                      {"toObjectId":"8","associationTypes":[]}]}],
            "errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"No associations found for 52"}],
            "startedAt":"2026-11-01T00:00:00Z","completedAt":"2026-11-01T00:00:01Z"}"#;
        let b: AssociationBatch = serde_json::from_str(json).unwrap();
        assert_eq!(b.results[0].from.id, "51");
        let ids: Vec<_> = b.results[0].to.iter().filter_map(AssociationTo::id).collect();
        assert_eq!(ids, ["7", "8"]);
        let o: OwnerPage = serde_json::from_str(
            r#"{"results":[{"id":"901","email":"ana@acme.example","firstName":"Ana","lastName":"Ruiz","userId":11,"archived":false,
                "createdAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-01T00:00:00Z","teams":[]}]}"#,
        )
        .unwrap();
        assert_eq!(o.results[0].first_name.as_deref(), Some("Ana"));
        assert!(o.paging.is_none());
    }

    #[test]
    fn stage_metadata_accepts_strings_and_numbers() {
        let s: Stage = serde_json::from_str(
            r#"{"id":"closedwon","label":"Won","displayOrder":6,"metadata":{"probability":"1.0","isClosed":"true"}}"#,
        )
        .unwrap();
        assert!(s.metadata.is_closed());
        assert_eq!(s.metadata.probability(), 1.0);
        let s: Stage =
            serde_json::from_str(r#"{"id":"x","label":"X","metadata":{"probability":0.4,"isClosed":false}}"#)
                .unwrap();
        assert!(!s.metadata.is_closed());
        assert_eq!(s.metadata.probability(), 0.4);
    }
}
