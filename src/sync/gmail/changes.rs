//! What a run of Gmail history records amounts to: messages to fetch, messages deleted, the
//! final state of each label on messages already mirrored, and whether drafts changed.
//!
//! History is replayed in order and the last operation on a (message, label) pair wins, so
//! replaying the same records again (a sync that stopped half-way) gives the same result.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::connectors::gmail::wire::{HistoryRecord, MessageRef};

const DRAFT: &str = "DRAFT";
/// Labels of messages the mirror does not keep as mail: drafts (mirrored as drafts), spam and
/// trash (out of the window, as a listing sees it).
pub const HIDDEN: [&str; 3] = [DRAFT, "SPAM", "TRASH"];

/// The net effect of history records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Messages to fetch (added, sent drafts, back from spam or trash), in history order,
    /// never deleted ones.
    pub added: Vec<MessageRef>,
    /// Messages deleted for good.
    pub deleted: HashSet<String>,
    /// Per message, the last operation on each label: `true` added, `false` removed.
    pub labels: HashMap<String, BTreeMap<String, bool>>,
    /// A draft was saved, deleted or sent: the drafts need listing again.
    pub drafts_touched: bool,
    /// Records read.
    pub records: usize,
}

fn has_draft(m: &MessageRef) -> bool {
    m.label_ids.as_ref().is_some_and(|l| l.iter().any(|l| l == DRAFT))
}

impl Changes {
    /// Folds in one page of records (ascending, as Gmail returns them).
    pub fn absorb(&mut self, records: &[HistoryRecord]) {
        for r in records {
            self.records += 1;
            for a in &r.messages_added {
                if has_draft(&a.message) {
                    // Each save of a draft is a new message: the drafts list says what is current.
                    self.drafts_touched = true;
                } else {
                    self.add(&a.message);
                }
            }
            for d in &r.messages_deleted {
                if has_draft(&d.message) {
                    self.drafts_touched = true;
                }
                self.deleted.insert(d.message.id.clone());
                self.added.retain(|m| m.id != d.message.id);
                self.labels.remove(&d.message.id);
            }
            for (ops, on) in [(&r.labels_added, true), (&r.labels_removed, false)] {
                for l in ops {
                    if self.deleted.contains(&l.message.id) {
                        continue;
                    }
                    if l.label_ids.iter().any(|x| x == DRAFT) {
                        self.drafts_touched = true;
                    }
                    if !on && l.label_ids.iter().any(|x| HIDDEN.contains(&x.as_str())) {
                        // A sent draft, or mail back from spam or trash: a message to fetch.
                        self.add(&l.message);
                    }
                    let entry = self.labels.entry(l.message.id.clone()).or_default();
                    for label in &l.label_ids {
                        entry.insert(label.clone(), on);
                    }
                }
            }
        }
    }

    fn add(&mut self, m: &MessageRef) {
        if !self.deleted.contains(&m.id) && !self.added.iter().any(|x| x.id == m.id) {
            self.added.push(m.clone());
        }
    }

    /// Messages whose last operation put them in spam or trash: they leave the mirror.
    pub fn hidden(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .labels
            .iter()
            .filter(|(_, ops)| ops.iter().any(|(l, on)| *on && HIDDEN.contains(&l.as_str())))
            .map(|(id, _)| id.clone())
            .collect();
        out.sort();
        out
    }

    /// `labels` after this run's last operations on message `id`.
    pub fn relabel(&self, id: &str, labels: &[String]) -> Option<Vec<String>> {
        let ops = self.labels.get(id)?;
        let mut out: Vec<String> = labels
            .iter()
            .filter(|l| ops.get(l.as_str()) != Some(&false))
            .cloned()
            .collect();
        for (label, on) in ops {
            if *on && !out.contains(label) {
                out.push(label.clone());
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::gmail::wire::{HistoryLabels, HistoryMessage};

    fn r(id: &str, labels: &[&str]) -> MessageRef {
        MessageRef {
            id: id.into(),
            thread_id: Some(format!("t{id}")),
            label_ids: Some(labels.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn added(id: &str, labels: &[&str]) -> HistoryRecord {
        HistoryRecord {
            messages_added: vec![HistoryMessage {
                message: r(id, labels),
            }],
            ..HistoryRecord::default()
        }
    }

    fn deleted(id: &str) -> HistoryRecord {
        HistoryRecord {
            messages_deleted: vec![HistoryMessage { message: r(id, &[]) }],
            ..HistoryRecord::default()
        }
    }

    fn label(id: &str, on: bool, labels: &[&str]) -> HistoryRecord {
        let l = HistoryLabels {
            message: r(id, &[]),
            label_ids: labels.iter().map(|s| s.to_string()).collect(),
        };
        if on {
            HistoryRecord {
                labels_added: vec![l],
                ..HistoryRecord::default()
            }
        } else {
            HistoryRecord {
                labels_removed: vec![l],
                ..HistoryRecord::default()
            }
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn added_then_deleted_is_neither_fetched_nor_relabelled() {
        let mut c = Changes::default();
        c.absorb(&[
            added("a", &["INBOX"]),
            label("a", true, &["STARRED"]),
            deleted("a"),
            added("b", &["INBOX"]),
        ]);
        assert_eq!(c.added.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["b"]);
        assert!(c.deleted.contains("a") && !c.labels.contains_key("a"));
        assert!(!c.drafts_touched);
    }

    #[test]
    fn the_last_operation_on_a_label_wins_and_replaying_changes_nothing() {
        let records = [
            label("m", false, &["UNREAD"]),
            label("m", true, &["STARRED", "IMPORTANT"]),
            label("m", false, &["STARRED"]),
            label("m", true, &["UNREAD"]),
        ];
        let mut c = Changes::default();
        c.absorb(&records);
        let before = strings(&["INBOX", "UNREAD", "CATEGORY_PERSONAL"]);
        let after = c.relabel("m", &before).unwrap();
        assert_eq!(
            after,
            strings(&["INBOX", "UNREAD", "CATEGORY_PERSONAL", "IMPORTANT"])
        );
        // A sync that stopped half-way replays the same records on the labels it stored.
        assert_eq!(c.relabel("m", &after).unwrap(), after);
        assert_eq!(c.relabel("other", &before), None);
    }

    #[test]
    fn trash_hides_a_message_and_taking_it_out_fetches_it_again() {
        let mut c = Changes::default();
        c.absorb(&[
            label("a", true, &["TRASH"]),
            label("b", true, &["SPAM"]),
            label("b", false, &["SPAM"]),
        ]);
        assert_eq!(c.hidden(), ["a"]);
        assert_eq!(c.added.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn draft_saves_touch_drafts_and_a_sent_draft_becomes_a_message_to_fetch() {
        let mut c = Changes::default();
        c.absorb(&[added("d1", &["DRAFT"])]);
        assert!(c.drafts_touched && c.added.is_empty());
        let mut c = Changes::default();
        c.absorb(&[label("d2", false, &["DRAFT"]), label("d2", true, &["SENT"])]);
        assert!(c.drafts_touched);
        assert_eq!(c.added.len(), 1);
        assert_eq!(c.records, 2);
    }
}
