//! Deterministic synthetic mirror for the benchmarks: a fixed-seed PRNG (splitmix64) and a
//! generator producing a `Mirror` of a given size at a fixed `now`, with every move type present.
//!
//! Same seed and sizes → byte-identical mirror, so figures are comparable across runs.

use caseyos::domain::entities::{Company, Contact, Deal, Draft, Mailbox, Message, Mirror, Note, Stage, Task};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// The benchmark clock: Friday 20 November 2026, 15:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The operator's own address.
pub const OPERATOR: &str = "alex.rivera@lumenlabs.example";

/// splitmix64: tiny, fast, good enough for test data, no dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform `usize` in `0..n`.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.index(i + 1);
            xs.swap(i, j);
        }
    }
}

/// How much to generate.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Contacts.
    pub contacts: usize,
    /// Companies.
    pub companies: usize,
    /// Deals.
    pub deals: usize,
    /// Messages (spread over `threads`; must be ≥ `threads`).
    pub messages: usize,
    /// Email threads.
    pub threads: usize,
    /// Drafts.
    pub drafts: usize,
    /// CRM tasks.
    pub tasks: usize,
    /// CRM notes.
    pub notes: usize,
}

impl Sizes {
    /// The issue's scale: 100k contacts, 10k deals, 300k messages.
    pub const ISSUE: Sizes = Sizes {
        contacts: 100_000,
        companies: 5_000,
        deals: 10_000,
        messages: 300_000,
        threads: 100_000,
        drafts: 3_000,
        tasks: 5_000,
        notes: 10_000,
    };

    /// Every count multiplied by `factor` (rounded, at least 1; messages stay ≥ threads), e.g.
    /// `Sizes::ISSUE.scaled(0.1)` is 10k contacts and 30k messages in 10k threads.
    #[allow(dead_code)] // used by examples/synth_mirror.rs, not by every bench
    pub fn scaled(self, factor: f64) -> Sizes {
        let f = |n: usize| ((n as f64 * factor).round() as usize).max(1);
        let threads = f(self.threads);
        Sizes {
            contacts: f(self.contacts),
            companies: f(self.companies),
            deals: f(self.deals),
            messages: f(self.messages).max(threads),
            threads,
            drafts: f(self.drafts),
            tasks: f(self.tasks),
            notes: f(self.notes),
        }
    }
}

const FIRST: &[&str] = &[
    "Dana", "Priya", "Jordan", "Sam", "Alex", "Morgan", "Taylor", "Chris", "Jamie", "Riley", "Noah", "Emma",
    "Liam", "Olivia", "Mateo", "Sofía", "Zoë", "Björn", "Aiko", "Chen", "Fatima", "Kwame", "Lucía", "Omar",
    "Ines", "Hugo", "Mei", "Arjun", "Leila", "Tomás",
];
const LAST: &[&str] = &[
    "Whitfield",
    "Natarajan",
    "Reyes",
    "Okafor",
    "Müller",
    "García",
    "Kim",
    "Novak",
    "Haddad",
    "Lindqvist",
    "Tanaka",
    "O'Brien",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Mensah",
    "Silva",
    "Park",
    "Ivanova",
    "Chowdhury",
    "Nguyen",
    "Schmidt",
    "Costa",
    "Andersen",
    "Petrov",
];
const WORD_A: &[&str] = &[
    "Acme",
    "Northwind",
    "Blue",
    "Granite",
    "Helio",
    "Vector",
    "Summit",
    "Cobalt",
    "Maple",
    "Orbit",
    "Quartz",
    "Harbor",
    "Pioneer",
    "Atlas",
    "Cedar",
    "Nimbus",
    "Ember",
    "Lattice",
];
const WORD_B: &[&str] = &[
    "Logistics",
    "Analytics",
    "Health",
    "Foods",
    "Robotics",
    "Energy",
    "Labs",
    "Freight",
    "Systems",
    "Retail",
    "Capital",
    "Media",
    "Bio",
    "Works",
    "Cloud",
];
const INDUSTRIES: &[&str] = &[
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "COMPUTER_SOFTWARE",
    "HOSPITAL_HEALTH_CARE",
    "FOOD_PRODUCTION",
    "RETAIL",
    "FINANCIAL_SERVICES",
    "MACHINERY",
    "RENEWABLES_ENVIRONMENT",
];
const TITLES: &[&str] = &[
    "VP Operations",
    "Head of Procurement",
    "CFO",
    "IT Director",
    "Operations Manager",
    "COO",
    "Data Lead",
    "Founder",
];
const TOPICS: &[&str] = &[
    "Pricing for the annual plan",
    "Security questionnaire",
    "Pilot kickoff next week",
    "MSA and order form redlines",
    "Intro call follow-up",
    "Renewal terms for 2027",
    "Integration with our ERP",
    "Quote for 40 additional seats",
    "Procurement paperwork",
    "Can we move our call?",
    "Quick question about onboarding",
    "Case study request",
];
const INBOUND_LINES: &[&str] = &[
    "Thanks for sending this over. Our CFO asked whether the first invoice can be dated January 1 rather than the signature date.",
    "We reviewed the proposal internally and have a couple of questions about the implementation timeline and who owns data migration.",
    "Could you share the SOC 2 report and the latest pen-test summary? Legal needs both before we can sign.",
    "Sorry for the slow reply — end of quarter here. Can we find 30 minutes next week to walk through pricing again?",
    "The pilot went well. The team wants to expand to the Rotterdam warehouse; what would that look like commercially?",
    "I am out of office until Monday; for anything urgent please contact my colleague.",
];
const OUTBOUND_LINES: &[&str] = &[
    "Great to speak earlier. As promised, here is the summary of what we discussed and the proposed next steps.",
    "Following up on my note from last week — happy to adjust the scope if the timing is not right.",
    "Attached is the updated order form with the changes from your legal team; let me know if anything is missing.",
    "Just checking whether you had a chance to look at the pricing options. I can hold the current terms until month end.",
    "Thanks for the quick reply. I have looped in our solutions engineer to answer the integration questions.",
];
const FORMS: &[&str] = &[
    "Demo request",
    "Pricing page contact",
    "Free trial signup",
    "Webinar: Cutting freight costs",
    "Whitepaper download",
];
const NEWSLETTERS: &[&str] = &[
    "news@saasweekly.example",
    "noreply@calendar-tool.example",
    "updates@cloudbilling.example",
    "no-reply@conference-tickets.example",
];

/// Pipelines "default" (sales) and "renewals", HubSpot-style stage ids and probabilities.
fn stages() -> Vec<Stage> {
    let defs: &[(&str, &str, &str, f64, bool)] = &[
        (
            "default",
            "appointmentscheduled",
            "Appointment scheduled",
            0.2,
            false,
        ),
        ("default", "qualifiedtobuy", "Qualified to buy", 0.4, false),
        (
            "default",
            "presentationscheduled",
            "Presentation scheduled",
            0.6,
            false,
        ),
        (
            "default",
            "decisionmakerboughtin",
            "Decision maker bought-in",
            0.8,
            false,
        ),
        ("default", "contractsent", "Contract sent", 0.9, false),
        ("default", "closedwon", "Closed won", 1.0, true),
        ("default", "closedlost", "Closed lost", 0.0, true),
        ("renewals", "renewal_upcoming", "Renewal upcoming", 0.5, false),
        (
            "renewals",
            "renewal_negotiation",
            "Renewal negotiation",
            0.75,
            false,
        ),
        ("renewals", "renewal_won", "Renewed", 1.0, true),
        ("renewals", "renewal_lost", "Churned", 0.0, true),
    ];
    let mut order = 0;
    let mut last_pipeline = "";
    defs.iter()
        .map(|&(p, id, label, probability, is_closed)| {
            if p != last_pipeline {
                order = 0;
                last_pipeline = p;
            }
            order += 1;
            Stage {
                id: id.into(),
                pipeline_id: p.into(),
                label: label.into(),
                display_order: order - 1,
                probability,
                is_closed,
            }
        })
        .collect()
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A time uniformly within the last `days` days (at least a minute ago).
fn ago(r: &mut Rng, now: DateTime<Utc>, min_days: f64, max_days: f64) -> DateTime<Utc> {
    let secs = (r.range(min_days, max_days) * 86_400.0) as i64;
    now - Duration::seconds(secs.max(60))
}

/// Builds the synthetic mirror. Contacts `0..90%` are "established" (they correspond with the
/// operator); the last 10% are fresh leads nobody has written to, some of whom wrote in.
pub fn generate(sizes: Sizes, seed: u64) -> Mirror {
    let now = now();
    let mut r = Rng::new(seed);
    let stages = stages();

    let companies: Vec<Company> = (0..sizes.companies)
        .map(|i| {
            let name = format!("{} {} {}", r.pick(WORD_A), r.pick(WORD_B), i);
            let employees = (5.0 * (4000.0_f64).powf(r.unit())) as u64;
            Company {
                id: format!("{}", 5_000_000 + i),
                domain: Some(format!("{}.example", slug(&name))),
                name: Some(name),
                industry: Some((*r.pick(INDUSTRIES)).to_string()),
                employees: r.chance(0.9).then_some(employees),
                annual_revenue: Some(employees as f64 * r.range(80_000.0, 250_000.0)),
                lifecycle_stage: Some(if r.chance(0.3) { "customer" } else { "opportunity" }.into()),
                updated_at: Some(ago(&mut r, now, 0.0, 120.0)),
            }
        })
        .collect();

    let established = sizes.contacts * 9 / 10;
    let contacts: Vec<Contact> = (0..sizes.contacts)
        .map(|i| {
            let first = *r.pick(FIRST);
            let last = *r.pick(LAST);
            let co = (i % sizes.companies.max(1)).min(companies.len().saturating_sub(1));
            let company = companies.get(co);
            let domain = company
                .and_then(|c| c.domain.clone())
                .unwrap_or_else(|| "example.com".into());
            let fresh = i >= established;
            let (created_at, lifecycle, form) = if fresh {
                let stage = *r.pick(&["lead", "lead", "subscriber", "marketingqualifiedlead", "other"]);
                let form = r
                    .chance(0.4)
                    .then(|| (ago(&mut r, now, 0.0, 20.0), (*r.pick(FORMS)).to_string()));
                (ago(&mut r, now, 0.0, 20.0), stage, form)
            } else {
                let stage = *r.pick(&[
                    "lead",
                    "marketingqualifiedlead",
                    "salesqualifiedlead",
                    "opportunity",
                    "opportunity",
                    "customer",
                    "evangelist",
                ]);
                let form = r
                    .chance(0.3)
                    .then(|| (ago(&mut r, now, 5.0, 400.0), (*r.pick(FORMS)).to_string()));
                (ago(&mut r, now, 60.0, 720.0), stage, form)
            };
            Contact {
                id: format!("{}", 1_000_000 + i),
                email: r
                    .chance(0.99)
                    .then(|| format!("{}.{}.{i}@{domain}", slug(first), slug(last)).to_ascii_lowercase()),
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                company_name: company.and_then(|c| c.name.clone()),
                company_id: r.chance(0.95).then(|| company.map(|c| c.id.clone())).flatten(),
                job_title: Some((*r.pick(TITLES)).into()),
                lifecycle_stage: Some(lifecycle.into()),
                created_at: Some(created_at),
                updated_at: Some(ago(&mut r, now, 0.0, 30.0)),
                recent_conversion_at: form.as_ref().map(|f| f.0),
                recent_conversion_event: form.map(|f| f.1),
            }
        })
        .collect();

    // Contacts of company `k` are k, k + C, k + 2C, ...; deals pick their people from there.
    let per_company = (established / sizes.companies.max(1)).max(1);
    let open_default: Vec<&Stage> = stages
        .iter()
        .filter(|s| s.pipeline_id == "default" && !s.is_closed)
        .collect();
    let open_renewal: Vec<&Stage> = stages
        .iter()
        .filter(|s| s.pipeline_id == "renewals" && !s.is_closed)
        .collect();
    let deals: Vec<Deal> = (0..sizes.deals)
        .map(|i| {
            let k = r.index(sizes.companies.max(1));
            let renewal = r.chance(0.2);
            let pipeline = if renewal { "renewals" } else { "default" };
            let stage_id = if r.chance(0.15) {
                match (renewal, r.chance(0.5)) {
                    (false, true) => "closedwon",
                    (false, false) => "closedlost",
                    (true, true) => "renewal_won",
                    (true, false) => "renewal_lost",
                }
                .to_string()
            } else if renewal {
                r.pick(&open_renewal).id.clone()
            } else {
                r.pick(&open_default).id.clone()
            };
            let people = 1 + r.index(3);
            let contact_ids = (0..people)
                .map(|_| {
                    let idx = k + sizes.companies * r.index(per_company);
                    contacts[idx.min(established.saturating_sub(1))].id.clone()
                })
                .collect();
            let amount = ((2_000.0 * 125.0_f64.powf(r.unit())) / 100.0).round() * 100.0;
            let company_name = companies.get(k).and_then(|c| c.name.clone()).unwrap_or_default();
            let created = ago(&mut r, now, 20.0, 240.0);
            Deal {
                id: format!("{}", 9_000_000 + i),
                name: format!(
                    "{company_name} — {}",
                    if renewal {
                        "renewal 2027"
                    } else {
                        r.pick(&["platform", "pilot", "expansion"])
                    }
                ),
                amount: r.chance(0.95).then_some(amount),
                pipeline_id: Some(pipeline.into()),
                stage_id: Some(stage_id),
                close_date: r
                    .chance(0.9)
                    .then(|| now + Duration::hours((r.range(-40.0, 75.0) * 24.0) as i64)),
                created_at: Some(created),
                updated_at: Some(ago(&mut r, now, 0.0, 20.0)),
                last_activity_at: r.chance(0.7).then(|| ago(&mut r, now, 0.0, 60.0)),
                stage_entered_at: Some(ago(&mut r, now, 0.0, 60.0)),
                contact_ids,
                company_ids: companies.get(k).map(|c| vec![c.id.clone()]).unwrap_or_default(),
            }
        })
        .collect();

    let notes: Vec<Note> = (0..sizes.notes)
        .map(|i| {
            let d = &deals[r.index(deals.len().max(1))];
            Note {
                id: format!("{}", 7_000_000 + i),
                body: format!("Call notes: {}", r.pick(INBOUND_LINES)),
                at: Some(ago(&mut r, now, 0.0, 90.0)),
                contact_ids: d.contact_ids.first().cloned().into_iter().collect(),
                deal_ids: vec![d.id.clone()],
            }
        })
        .collect();

    let tasks: Vec<Task> = (0..sizes.tasks)
        .map(|i| {
            let c = &contacts[r.index(established.max(1))];
            let deal = r
                .chance(0.6)
                .then(|| deals[r.index(deals.len().max(1))].id.clone());
            Task {
                id: format!("{}", 8_000_000 + i),
                subject: format!(
                    "{} {}",
                    r.pick(&["Call", "Send contract to", "Check in with", "Prepare QBR for"]),
                    c.display_name()
                ),
                body: r
                    .chance(0.5)
                    .then(|| "Agenda: pricing, rollout, next steps.".into()),
                status: (*r.pick(&[
                    "NOT_STARTED",
                    "NOT_STARTED",
                    "NOT_STARTED",
                    "IN_PROGRESS",
                    "WAITING",
                    "COMPLETED",
                    "COMPLETED",
                ]))
                .into(),
                priority: Some((*r.pick(&["HIGH", "MEDIUM", "MEDIUM", "LOW"])).into()),
                task_type: Some((*r.pick(&["EMAIL", "CALL", "TODO"])).into()),
                due_at: r
                    .chance(0.95)
                    .then(|| now + Duration::hours((r.range(-30.0, 30.0) * 24.0) as i64)),
                updated_at: Some(ago(&mut r, now, 0.0, 30.0)),
                contact_ids: vec![c.id.clone()],
                deal_ids: deal.into_iter().collect(),
            }
        })
        .collect();

    let me = Mailbox {
        name: Some("Alex Rivera".into()),
        email: OPERATOR.into(),
    };
    // Thread lengths come in pairs (3 − d, 3 + d), so the total is exactly 3 per thread on
    // average; any remainder of `messages` goes to the last threads.
    let threads = sizes.threads.max(1);
    let mut lengths: Vec<usize> = Vec::with_capacity(threads);
    let mean = sizes.messages / threads;
    while lengths.len() < threads {
        let d = r.index(mean.min(3));
        lengths.push(mean - d);
        if lengths.len() < threads {
            lengths.push(mean + d);
        }
    }
    let mut extra = sizes.messages.saturating_sub(lengths.iter().sum());
    for l in lengths.iter_mut().rev() {
        if extra == 0 {
            break;
        }
        *l += 1;
        extra -= 1;
    }

    let mut messages: Vec<Message> = Vec::with_capacity(sizes.messages);
    // Threads whose last real message is inbound, for drafts to reply in.
    let mut reply_threads: Vec<(usize, Mailbox)> = Vec::new();
    for (t, &len) in lengths.iter().enumerate() {
        let tid = format!("18c{t:013x}");
        let topic = *r.pick(TOPICS);
        let roll = r.unit();
        // (counterpart, all inbound, automated)
        let (them, inbound_only, automated) = if roll < 0.10 {
            let addr = *r.pick(NEWSLETTERS);
            (
                Mailbox {
                    name: Some(addr.split('@').nth(1).unwrap_or(addr).into()),
                    email: addr.into(),
                },
                true,
                true,
            )
        } else if roll < 0.15 {
            let first = *r.pick(FIRST);
            (
                Mailbox {
                    name: Some(format!("{first} (unknown)")),
                    email: format!("{}.{t}@gmail.example", slug(first)),
                },
                false,
                false,
            )
        } else if roll < 0.23 && established < sizes.contacts {
            let c = &contacts[established + r.index(sizes.contacts - established)];
            (
                Mailbox {
                    name: Some(c.display_name()),
                    email: c.email.clone().unwrap_or_else(|| format!("lead.{t}@example.com")),
                },
                true,
                false,
            )
        } else {
            let c = &contacts[r.index(established.max(1))];
            (
                Mailbox {
                    name: Some(c.display_name()),
                    email: c
                        .email
                        .clone()
                        .unwrap_or_else(|| format!("person.{t}@example.com")),
                },
                false,
                false,
            )
        };
        // Walk backwards from the last message so everything stays within the last 60 days.
        let last_at = ago(&mut r, now, 0.0, 60.0);
        let mut times = vec![last_at];
        for _ in 1..len {
            let prev = *times.last().unwrap_or(&last_at);
            times.push(prev - Duration::minutes(60 + r.below(3 * 24 * 60) as i64));
        }
        times.reverse();
        let mut outbound = !inbound_only && r.chance(0.6);
        let cc_colleague = r.chance(0.1);
        let with_draft_msg = !inbound_only && r.chance(0.01);
        for (j, at) in times.into_iter().enumerate() {
            if j > 0 && !inbound_only && r.chance(0.7) {
                outbound = !outbound;
            }
            let draft_label = with_draft_msg && j + 1 == len && j > 0;
            let out = outbound || draft_label;
            let (from, to) = if out {
                (me.clone(), vec![them.clone()])
            } else {
                (them.clone(), vec![me.clone()])
            };
            let line = if out {
                *r.pick(OUTBOUND_LINES)
            } else {
                *r.pick(INBOUND_LINES)
            };
            let greeting = if out {
                them.name
                    .as_deref()
                    .unwrap_or("there")
                    .split(' ')
                    .next()
                    .unwrap_or("there")
            } else {
                "Alex"
            };
            let body = format!("Hi {greeting},\n\n{line}\n\nBest,\n{}\n", from.label());
            let mut labels = vec![
                if draft_label {
                    "DRAFT"
                } else if out {
                    "SENT"
                } else {
                    "INBOX"
                }
                .to_string(),
            ];
            if automated {
                labels.push("CATEGORY_UPDATES".into());
            } else if !out {
                labels.push("CATEGORY_PERSONAL".into());
            }
            let n = messages.len();
            messages.push(Message {
                id: format!("18d{n:013x}"),
                thread_id: tid.clone(),
                at,
                from,
                to,
                cc: if cc_colleague && !automated {
                    vec![Mailbox {
                        name: Some("Sam Okafor".into()),
                        email: "sam.okafor@lumenlabs.example".into(),
                    }]
                } else {
                    Vec::new()
                },
                subject: if j == 0 {
                    topic.to_string()
                } else {
                    format!("Re: {topic}")
                },
                snippet: body.replace('\n', " ").chars().take(120).collect(),
                body,
                labels,
                message_id_header: Some(format!("<{n}.{t}@mail.synth.example>")),
                outbound: out,
                automated,
            });
            if j + 1 == len && !outbound && !draft_label && !automated {
                reply_threads.push((t, them.clone()));
            }
        }
    }

    // Two thirds of the drafts reply in threads waiting on us; the rest start new threads.
    let drafts: Vec<Draft> = (0..sizes.drafts)
        .map(|i| {
            let in_thread = i % 3 != 2 && !reply_threads.is_empty();
            let (thread_id, to) = if in_thread {
                let (t, them) = &reply_threads[r.index(reply_threads.len())];
                (format!("18c{t:013x}"), them.clone())
            } else {
                let c = &contacts[r.index(contacts.len().max(1))];
                (
                    format!("18e{i:013x}"),
                    Mailbox {
                        name: Some(c.display_name()),
                        email: c.email.clone().unwrap_or_else(|| "someone@example.com".into()),
                    },
                )
            };
            Draft {
                id: format!("r-{}", 100_000 + i),
                thread_id: Some(thread_id),
                to: vec![to],
                subject: format!("Re: {}", r.pick(TOPICS)),
                body: format!("Hi,\n\n{}\n\nBest,\nAlex", r.pick(OUTBOUND_LINES)),
                updated_at: ago(&mut r, now, 0.0, 10.0),
                in_reply_to: None,
                move_key: None,
            }
        })
        .collect();

    Mirror {
        operator_email: Some(OPERATOR.into()),
        contacts,
        companies,
        deals,
        stages,
        tasks,
        notes,
        messages,
        drafts,
    }
}
