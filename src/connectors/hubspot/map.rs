//! HubSpot wire objects → mirror entities.

use chrono::{DateTime, Duration, Utc};

use super::wire::{CrmObject, Pipeline};
use crate::domain::entities::{Company, Contact, Deal, Note, Stage, Task};
use crate::domain::text::html_to_text;
use crate::domain::time::parse_timestamp;

/// Converts wire objects, moving every timestamp by `shift` (zero for live data; the demo uses
/// it to bring its fixed dates up to today).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mapper {
    /// Added to every timestamp.
    pub shift: Duration,
}

impl Mapper {
    fn time(&self, o: &CrmObject, prop: &str) -> Option<DateTime<Utc>> {
        o.prop(prop).and_then(parse_timestamp).map(|t| t + self.shift)
    }

    fn string(o: &CrmObject, prop: &str) -> Option<String> {
        o.prop(prop).map(str::to_string)
    }

    fn number(o: &CrmObject, prop: &str) -> Option<f64> {
        o.prop(prop)
            .and_then(|v| v.replace(',', "").parse::<f64>().ok())
            .filter(|v| v.is_finite())
    }

    /// A contact; its primary company is the first associated company.
    pub fn contact(&self, o: &CrmObject) -> Contact {
        Contact {
            id: o.id.clone(),
            email: o.prop("email").map(|e| e.to_ascii_lowercase()),
            first_name: Self::string(o, "firstname"),
            last_name: Self::string(o, "lastname"),
            company_name: Self::string(o, "company"),
            company_id: o.associated_ids("companies").into_iter().next(),
            job_title: Self::string(o, "jobtitle"),
            lifecycle_stage: o.prop("lifecyclestage").map(|s| s.to_ascii_lowercase()),
            created_at: self.time(o, "createdate"),
            updated_at: self.time(o, "lastmodifieddate"),
            recent_conversion_at: self.time(o, "recent_conversion_date"),
            recent_conversion_event: Self::string(o, "recent_conversion_event_name"),
        }
    }

    /// A company.
    pub fn company(&self, o: &CrmObject) -> Company {
        Company {
            id: o.id.clone(),
            name: Self::string(o, "name"),
            domain: Self::string(o, "domain").map(|d| d.to_ascii_lowercase()),
            industry: Self::string(o, "industry"),
            employees: Self::number(o, "numberofemployees").map(|n| n.max(0.0) as u64),
            annual_revenue: Self::number(o, "annualrevenue"),
            lifecycle_stage: o.prop("lifecyclestage").map(|s| s.to_ascii_lowercase()),
            updated_at: self.time(o, "hs_lastmodifieddate"),
        }
    }

    /// A deal, with `hs_v2_date_entered_current_stage` (or `hs_date_entered_<stage>`) as the
    /// time it entered its stage.
    pub fn deal(&self, o: &CrmObject) -> Deal {
        let stage_id = Self::string(o, "dealstage");
        let stage_entered_at = self.time(o, "hs_v2_date_entered_current_stage").or_else(|| {
            stage_id
                .as_deref()
                .and_then(|s| self.time(o, &format!("hs_date_entered_{s}")))
        });
        Deal {
            id: o.id.clone(),
            name: Self::string(o, "dealname").unwrap_or_else(|| format!("Deal {}", o.id)),
            amount: Self::number(o, "amount"),
            pipeline_id: Self::string(o, "pipeline"),
            stage_id,
            close_date: self.time(o, "closedate"),
            created_at: self.time(o, "createdate"),
            updated_at: self.time(o, "hs_lastmodifieddate"),
            last_activity_at: self
                .time(o, "notes_last_updated")
                .or_else(|| self.time(o, "hs_last_sales_activity_timestamp")),
            stage_entered_at,
            contact_ids: o.associated_ids("contacts"),
            company_ids: o.associated_ids("companies"),
        }
    }

    /// A task.
    pub fn task(&self, o: &CrmObject) -> Task {
        Task {
            id: o.id.clone(),
            subject: Self::string(o, "hs_task_subject").unwrap_or_else(|| "(untitled task)".into()),
            body: o
                .prop("hs_task_body")
                .map(|b| super::write::strip_marker(&html_to_text(b))),
            status: Self::string(o, "hs_task_status")
                .unwrap_or_else(|| "NOT_STARTED".into())
                .to_ascii_uppercase(),
            priority: Self::string(o, "hs_task_priority").map(|p| p.to_ascii_uppercase()),
            task_type: Self::string(o, "hs_task_type").map(|p| p.to_ascii_uppercase()),
            due_at: self.time(o, "hs_timestamp"),
            updated_at: self.time(o, "hs_lastmodifieddate"),
            contact_ids: o.associated_ids("contacts"),
            deal_ids: o.associated_ids("deals"),
        }
    }

    /// A note; its HTML body becomes plain text.
    pub fn note(&self, o: &CrmObject) -> Note {
        Note {
            id: o.id.clone(),
            body: o
                .prop("hs_note_body")
                .map(|b| super::write::strip_marker(&html_to_text(b)))
                .unwrap_or_default(),
            at: self.time(o, "hs_timestamp"),
            contact_ids: o.associated_ids("contacts"),
            deal_ids: o.associated_ids("deals"),
        }
    }

    /// A pipeline's stages (archived stages dropped).
    pub fn stages(&self, p: &Pipeline) -> Vec<Stage> {
        p.stages
            .iter()
            .filter(|s| !s.archived)
            .map(|s| Stage {
                id: s.id.clone(),
                pipeline_id: p.id.clone(),
                label: s.label.clone(),
                display_order: s.display_order,
                probability: s.metadata.probability(),
                is_closed: s.metadata.is_closed(),
            })
            .collect()
    }
}
