#!/usr/bin/env python3
"""Deterministic generator for the CaseyOS demo data set (assets/demo).

Run from the repository root:

    python3 assets/demo/generate.py

Standard library only, fixed random seed: running it twice produces byte-identical files.
It rewrites assets/demo/hubspot/*.json and assets/demo/gmail/*.json, runs a self-check
(assertions that mirror CaseyOS' move detection) and prints a summary.

Every timestamp is relative to ANCHOR (Fri 2026-11-20 15:00 UTC), the "now" of the story.
CaseyOS shifts all demo timestamps by whole days so the story always happens "today".
"""

import base64
import datetime as dt
import email.utils
import html
import json
import os
import random
import sys
import unicodedata

SEED = 20261120
rng = random.Random(SEED)

UTC = dt.timezone.utc
ANCHOR = dt.datetime(2026, 11, 20, 15, 0, 0, tzinfo=UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
HERE = os.path.dirname(os.path.abspath(__file__))

OPERATOR_NAME = "Jordan Reyes"
OPERATOR_EMAIL = "jordan@lumenlabs.example"
OPERATOR = f"{OPERATOR_NAME} <{OPERATOR_EMAIL}>"
COLLEAGUE = "Priyanka Rao <priyanka@lumenlabs.example>"
OWNER_ID = "81234567"
SIGNATURE = "--\nJordan Reyes\nAccount Executive, Lumen Labs\n+1 555 0100"

# Terminal-hostile strings (raw control characters, escaped by json.dump).
ESC = "\x1b"
BEL = "\x07"
RLO = "\u202e"
PDF = "\u202c"
HOSTILE_SUBJECT = (
    f"{ESC}[31mURGENT{ESC}[0m audit finding on Lumen access {ESC}]0;pwned{BEL}"
    f" {ESC}]8;;http://evil.example/{ESC}\\click here{ESC}]8;;{ESC}\\"
)
EMOJI_SUBJECT = "🚀 Q1 rollout plan 🎉"


# ---------------------------------------------------------------------------------------------
# Time helpers
# ---------------------------------------------------------------------------------------------

def hours_ago(h):
    return ANCHOR - dt.timedelta(hours=h)


def days_ago(days, hour=None, minute=None):
    t = ANCHOR - dt.timedelta(days=days)
    if hour is not None:
        t = t.replace(hour=hour, minute=rng.randrange(60) if minute is None else minute)
    return t


def at(y, mo, d, h, mi):
    return dt.datetime(y, mo, d, h, mi, tzinfo=UTC)


def in_days(days, hour=17, minute=0):
    t = ANCHOR + dt.timedelta(days=days)
    return t.replace(hour=hour, minute=minute, second=0, microsecond=0)


def jitter(t):
    """Random seconds and milliseconds within the same minute."""
    return t.replace(second=rng.randrange(60), microsecond=rng.randrange(1000) * 1000)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (t.microsecond // 1000)


def ms(t):
    return (t - EPOCH) // dt.timedelta(milliseconds=1)


def rfc2822(t):
    return email.utils.format_datetime(t.replace(microsecond=0))


def business_days_between(a, b):
    """Same rule as CaseyOS' domain::time::business_days_between."""
    if b <= a:
        return 0
    whole = (b - a) // dt.timedelta(days=1)
    start = a.date()
    return sum(1 for i in range(1, whole + 1) if (start + dt.timedelta(days=i)).weekday() < 5)


def age_days(t):
    return (ANCHOR - t).total_seconds() / 86400.0


# ---------------------------------------------------------------------------------------------
# Companies and contacts
# ---------------------------------------------------------------------------------------------

# id, name, domain, industry, employees, annual revenue, city, country, lifecycle stage
COMPANIES = [
    ("2001", "Acme Logistics", "acme-logistics.example", "LOGISTICS_AND_SUPPLY_CHAIN", 1200, 310000000, "Chicago", "United States", "opportunity"),
    ("2002", "Brightwater Foods", "brightwater-foods.example", "FOOD_BEVERAGES", 850, 190000000, "Portland", "United States", "opportunity"),
    ("2003", "Cobalt Health", "cobalt-health.example", "HOSPITAL_HEALTH_CARE", 3400, 520000000, "Boston", "United States", "opportunity"),
    ("2004", "Driftwood Outfitters", "driftwood-outfitters.example", "RETAIL", 420, 88000000, "Denver", "United States", "opportunity"),
    ("2005", "Evergreen Credit Union", "evergreen-cu.example", "FINANCIAL_SERVICES", 610, 140000000, "Seattle", "United States", "opportunity"),
    ("2006", "Foxglove Media", "foxglove-media.example", "ONLINE_MEDIA", 180, 26000000, "London", "United Kingdom", "opportunity"),
    ("2007", "Granite Peak Manufacturing", "granitepeak-mfg.example", "INDUSTRIAL_AUTOMATION", 2600, 740000000, "Pittsburgh", "United States", "opportunity"),
    ("2008", "Harbor & Vale Insurance", "harborvale.example", "INSURANCE", 1900, 610000000, "Hartford", "United States", "customer"),
    ("2009", "Ironleaf Software", "ironleaf.example", "COMPUTER_SOFTWARE", 350, 61000000, "Austin", "United States", "opportunity"),
    ("2010", "Juniper Education Group", "juniper-edu.example", "EDUCATION_MANAGEMENT", 950, 120000000, "Toronto", "Canada", "opportunity"),
    ("2011", "Kestrel Aerospace", "kestrel-aero.example", "AVIATION_AEROSPACE", 4100, 1300000000, "Toulouse", "France", "opportunity"),
    ("2012", "Lighthouse Energy", "lighthouse-energy.example", "RENEWABLES_ENVIRONMENT", 700, 230000000, "Copenhagen", "Denmark", "opportunity"),
    ("2013", "Marlow Hotels", "marlow-hotels.example", "HOSPITALITY", 2200, 380000000, "Edinburgh", "United Kingdom", "customer"),
    ("2014", "Nettlefield Pharma", "nettlefield-pharma.example", "PHARMACEUTICALS", 1500, 900000000, "Basel", "Switzerland", "opportunity"),
    ("2015", "Orchard Lane Realty", "orchardlane.example", "REAL_ESTATE", 120, 18000000, "Sacramento", "United States", "opportunity"),
    ("2016", "Pinecrest Telecom", "pinecrest-telecom.example", "TELECOMMUNICATIONS", 5200, 2100000000, "Dallas", "United States", "opportunity"),
    ("2017", "Quayside Capital", "quayside-capital.example", "INVESTMENT_MANAGEMENT", 260, 95000000, "New York", "United States", "customer"),
    ("2018", "Redwood Robotics", "redwood-robotics.example", "MACHINERY", 300, 47000000, "San Jose", "United States", "salesqualifiedlead"),
    ("2019", "Saffron Table Group", "saffron-table.example", "RESTAURANTS", 900, 70000000, "Chicago", "United States", "lead"),
    ("2020", "Meridian Ports", "meridian-ports.example", "MARITIME", 1100, 260000000, "Haifa", "Israel", "opportunity"),
    ("2021", "Tidewater Shipping", "tidewater-shipping.example", "LOGISTICS_AND_SUPPLY_CHAIN", 640, 150000000, "Rotterdam", "Netherlands", "opportunity"),
    ("2022", "Umbra Security", "umbra-security.example", "COMPUTER_NETWORK_SECURITY", 240, 39000000, "Tallinn", "Estonia", "opportunity"),
    ("2023", "Vantage Biotech", "vantage-bio.example", "BIOTECHNOLOGY", 480, 110000000, "San Diego", "United States", "marketingqualifiedlead"),
]
COMPANY = {c[0]: c for c in COMPANIES}

# id, first, last, company id, job title, lifecycle stage. Emails default to first.last@domain.
CONTACTS = [
    ("1001", "Dana", "Whitfield", "2001", "VP Operations", "opportunity"),
    ("1002", "Marcus", "Oyelaran", "2001", "Director of IT", "opportunity"),
    ("1003", "Priya", "Natarajan", "2001", "Procurement Manager", "opportunity"),
    ("1004", "Elena", "Vasquez-Hart", "2002", "Head of Analytics", "opportunity"),
    ("1005", "Tom", "Abernathy", "2002", "Chief Financial Officer", "opportunity"),
    ("1006", "Grace", "Liu", "2003", "Director of Data Science", "opportunity"),
    ("1007", "Samuel", "Okafor", "2003", "Chief Information Security Officer", "opportunity"),
    ("1008", "Hannah", "Brooks", "2004", "eCommerce Director", "opportunity"),
    ("1009", "Leo", "Marchetti", "2004", "Merchandising Analyst", "lead"),
    ("1010", "Ruth", "Castellanos", "2005", "Chief Operating Officer", "opportunity"),
    ("1011", "Ben", "Kowalczyk", "2005", "Senior Data Engineer", "salesqualifiedlead"),
    ("1012", "Aisha", "Rahman", "2006", "Head of Growth", "salesqualifiedlead"),
    ("1013", "Felix", "Hartmann", "2006", "Audience Analyst", "lead"),
    ("1014", "Walter", "Greene", "2007", "Director of Plant Operations", "opportunity"),
    ("1015", "Nadia", "Petrova", "2007", "BI Manager", "salesqualifiedlead"),
    ("1016", "Olivia", "Chen", "2008", "VP Claims Analytics", "customer"),
    ("1017", "James", "Whitaker", "2008", "Lead Actuary", "customer"),
    ("1018", "Sofia", "Lindqvist", "2009", "VP Finance", "opportunity"),
    ("1019", "Raj", "Mehta", "2009", "RevOps Manager", "salesqualifiedlead"),
    ("1020", "Carmen", "Díaz", "2010", "Director of Institutional Research", "opportunity"),
    ("1021", "Peter", "Nguyen", "2010", "IT Manager", "salesqualifiedlead"),
    ("1022", "Ingrid", "Solberg", "2011", "Program Manager", "opportunity"),
    ("1023", "Victor", "Alvarez", "2011", "Procurement Lead", "opportunity"),
    ("1024", "Chloe", "Dubois", "2012", "Analytics Lead", "opportunity"),
    ("1025", "Kwame", "Mensah", "2012", "Chief Technology Officer", "salesqualifiedlead"),
    ("1026", "Isabella", "Rossi", "2013", "Revenue Manager", "customer"),
    ("1027", "George", "Papadopoulos", "2013", "General Manager", "customer"),
    ("1028", "Yuki", "Tanaka", "2014", "Head of Commercial Analytics", "opportunity"),
    ("1029", "Daniel", "Fischer", "2014", "Senior Legal Counsel", "opportunity"),
    ("1030", "Megan", "O'Connell", "2015", "Marketing Director", "opportunity"),
    ("1031", "Arjun", "Kapoor", "2016", "VP Network Analytics", "opportunity"),
    ("1032", "Laura", "Benson", "2016", "Data Platform Lead", "salesqualifiedlead"),
    ("1033", "Henry", "Ashford", "2017", "Partner", "customer"),
    ("1034", "Zoe", "Caldwell", "2017", "Operations Analyst", "customer"),
    ("1035", "Mateo", "Silva", "2018", "Head of Data", "salesqualifiedlead"),
    ("1036", "Emily", "Park", "2018", "Data Analyst", "lead"),
    ("1037", "Fatima", "Al-Sayed", "2019", "Finance Director", "lead"),
    ("1038", "ليلى", "כהן", "2020", "Head of Port Analytics", "opportunity"),
    ("1039", "Owen", "Fairweather", "2021", "Logistics Analyst", "salesqualifiedlead"),
    ("1040", "Nina", "Volkova", "2022", f"Security Engineer {ESC}[5;31m(on call){ESC}[0m", "salesqualifiedlead"),
    ("1041", "Caleb", "Strand", "2022", "IT Director", "opportunity"),
    ("1042", "Tessa", "Morgan", "2023", "Director of Commercial Operations", "marketingqualifiedlead"),
    ("1043", "Kenji", "Watanabe", "2019", "Head of Finance", "lead"),
    ("1044", "Amara", "Nwosu", "2012", "Senior Data Analyst", "marketingqualifiedlead"),
    ("1045", "Lucas", "Moreau", "2013", "Director of Revenue Strategy", "lead"),
    ("1046", "Sara", "Lindgren", "2022", "VP Operations", "marketingqualifiedlead"),
    ("1047", "Diego", "Ramírez", "2001", "Senior Data Analyst", "opportunity"),
    ("1048", "Hiroshi", "Sato", "2007", "Quality Engineer", "subscriber"),
    ("1049", "Rebecca", "Stone", "2005", "Marketing Manager", "subscriber"),
    ("1050", "Mohammed", "Haddad", "2021", "Head of Fleet Operations", "salesqualifiedlead"),
    ("1051", "Claire", "Beaumont", "2023", "VP Research Operations", "salesqualifiedlead"),
    ("1052", "Anton", "Novak", "2011", "Engineering Manager", "salesqualifiedlead"),
    ("1053", "Julia", "Becker", "2014", "Commercial Excellence Manager", "opportunity"),
    ("1054", "Tariq", "Aziz", "2023", "Head of IT", "lead"),
    ("1055", "Noah", "Fitzgerald", "2015", "Broker Operations Manager", "opportunity"),
    ("1056", "Maya", "Goldberg", "2003", "Clinical Operations Manager", "opportunity"),
    ("1057", "Ethan", "Walsh", "2010", "Admissions Analyst", "subscriber"),
    ("1058", "Rosa", "Delgado", "2019", "Operations Coordinator", "lead"),
]
EMAIL_OVERRIDES = {
    "1038": "layla.cohen@meridian-ports.example",
    "1058": None,  # a contact with no email address at all
}
COMPANY_PROP_OVERRIDES = {
    # Bidi override: renders as "Tidewater Shipping Ltd" in naive terminals, but is not.
    "1039": f"Tidewater {RLO}gnippihS{PDF} Ltd",
}
# New leads: created and converted within the last 7 days, never emailed.
NEW_LEADS = {
    "1042": (hours_ago(50.5), "Demo request form"),
    "1043": (hours_ago(97.25), "Pricing page: Talk to sales"),
    "1044": (hours_ago(146.0), "Webinar: Forecasting without spreadsheets"),
    "1045": (hours_ago(20.4), "Demo request form"),
    "1046": (hours_ago(5.1), "Free trial signup"),
}
OLD_CONVERSION_EVENTS = [
    "Demo request form", "Whitepaper download: The analytics ROI playbook", "Pricing page: Talk to sales",
    "Webinar: Forecasting without spreadsheets", "Newsletter signup", "Free trial signup", "Contact us form",
]


def slug(s):
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in s.lower() if ch.isalnum() or ch in ".-")


CONTACT = {}
for cid, first, last, coid, title, stage in CONTACTS:
    domain = COMPANY[coid][2]
    em = EMAIL_OVERRIDES.get(cid, f"{slug(first)}.{slug(last)}@{domain}")
    CONTACT[cid] = {
        "id": cid, "first": first, "last": last, "company_id": coid, "title": title, "stage": stage,
        "email": em, "domain": domain, "company": COMPANY_PROP_OVERRIDES.get(cid, COMPANY[coid][1]),
    }


def seats_for(coid):
    emp = COMPANY[coid][4]
    return max(15, min(400, (emp // 10) // 5 * 5))


def mailbox(c):
    return f"{c['first']} {c['last']} <{c['email']}>"


# ---------------------------------------------------------------------------------------------
# Conversation scripts: each topic is a natural, alternating exchange ("I" inbound, "O" outbound).
# ---------------------------------------------------------------------------------------------

TOPICS = {
    "pricing": ("Lumen pricing for {company}", [
        ("I", "Thanks for walking us through Lumen on Tuesday. Before I take this to our CFO, could you send over pricing for roughly {seats} seats? We would also like to understand what is included in the platform fee versus the per-seat price."),
        ("O", "Great to meet the team this week. Attached is the pricing summary for {seats} seats on the Growth plan, including the platform fee, SSO and premium support. Happy to walk your CFO through it on a short call."),
        ("I", "The per-seat price looks reasonable, but the platform fee is higher than we budgeted. Is there any flexibility if we commit to a two-year term? Our fiscal year starts in January, so timing matters for us."),
        ("O", "I checked with our deal desk: on a two-year commitment we can take 12% off the platform fee and hold the per-seat price for the full term. I have updated the quote to reflect that. Let me know if the structure works for your January budget cycle."),
        ("I", "Appreciate the quick turnaround. I shared the revised numbers with finance and they are comfortable with the two-year option. Can you confirm the price lock also applies to seats added mid-term?"),
        ("O", "Confirmed: seats added during the term are billed at the same locked rate, prorated to the renewal date. I will put that in the order form language so there is no ambiguity."),
    ]),
    "pilot": ("Lumen pilot: success criteria and timeline", [
        ("O", "Thanks for the kickoff call. As discussed, the pilot runs for 30 days with three success criteria: forecast accuracy within 5%, a daily refresh before 7am, and adoption by at least 15 analysts. I have set up a workspace and invited your team."),
        ("I", "Quick update from week one: the warehouse connector is live and the first dashboards look promising. The team noticed that the on-time-delivery metric differs from our internal report by about two percent. Can someone help us reconcile it?"),
        ("O", "Good catch on the on-time-delivery gap. It comes from how late scans are bucketed; our default uses the carrier timestamp. Our solutions engineer can switch it to your internal definition in about ten minutes, and I have sent a few slots for a call."),
        ("I", "The reconciliation call helped a lot, thank you. We are aligned on the definition now. I would like to review the pilot results with you and our VP before the end of the month. Could you also share how other customers measured adoption?"),
        ("O", "Great progress this week. Usage is up to 18 active analysts and the refresh has landed before 6:30am every day. Shall we book 45 minutes with your VP to review the results against the success criteria?"),
        ("I", "Yes, let's do that. Our VP is free Thursday afternoon. Please include the adoption numbers by team."),
    ]),
    "security": ("Security review for Lumen", [
        ("I", "Our security team needs to complete a vendor review before we can move forward. Can you send your SOC 2 Type II report and a completed copy of our standard questionnaire? We also need details on data residency and subprocessors."),
        ("O", "Happy to help with the review. I have shared our SOC 2 Type II report under NDA, the completed questionnaire, and our subprocessor list. All customer data is hosted in the EU or US region of your choice."),
        ("I", "Thanks for the documents. The team has two follow-up questions: do you support customer-managed encryption keys, and how quickly do you notify customers of a security incident? Once we have those answers we can close the review."),
        ("O", "Good questions. Customer-managed keys are available on the Enterprise plan through your cloud KMS, and our incident policy commits to notification within 48 hours of confirmation. I have attached the relevant section of our security addendum."),
        ("I", "Security signed off on the review this morning. The only condition is that SSO is enforced for all users before go-live. I will forward the formal approval to procurement."),
        ("O", "Fantastic news, thank you for pushing this through. Enforcing SSO is straightforward and our onboarding checklist covers it in the first week. I will loop in our implementation lead so it is on the plan from day one."),
    ]),
    "redlines": ("Lumen MSA and order form redlines", [
        ("I", "Legal has gone through the MSA and order form. Redlines are attached; the main points are the limitation of liability cap, the auto-renewal notice period, and the data deletion timeline. Can your team review this week?"),
        ("O", "Thanks for the redlines. Our legal team accepted most of them; we proposed a liability cap of twelve months of fees and a 30-day data deletion commitment after termination. The annotated version is attached."),
        ("I", "We reviewed your responses. We can accept the liability cap at twelve months of fees, but we still need a 60-day notice period for non-renewal. Is that something you can agree to? If so, we can aim to sign before month end."),
        ("O", "Good news: we can agree to a 60-day non-renewal notice. I have updated the order form and MSA accordingly, and the clean copy is attached for a final look."),
        ("I", "Thanks, that works for us. One last item from our CFO: can the first invoice be dated January 1 rather than the signature date? If yes, please send the final version for signature and we will route it this week."),
        ("O", "Sending the final version for signature now. Once it is countersigned I will introduce you to our onboarding team so we can schedule the kickoff."),
    ]),
    "onboarding": ("Welcome to Lumen: onboarding kickoff", [
        ("I", "We signed this morning, so excited to get going! Who should our data engineer work with on the initial setup? We would like the first dashboards ready for the leadership meeting on the 15th."),
        ("O", "Congratulations and welcome to Lumen! Priyanka from our implementation team will be your main contact; she has sent an invite for a kickoff on Monday. The 15th is realistic if we have warehouse access by the end of next week."),
        ("I", "The kickoff went well. One blocker: our firewall team needs the list of IP addresses Lumen connects from before they can allow the warehouse connection. Can you send that over?"),
        ("O", "Here are the static egress IPs for your region, along with the ports we use. Our docs also list them under Network requirements. Let me know once the firewall rule is in and we will run the first sync together."),
        ("I", "All connected now and the first dashboards are live. The team loves the forecast view. Thanks for making this painless."),
        ("O", "That is great to hear. I will check in after the leadership meeting to see how the forecast view landed and what you would like to build next."),
    ]),
    "intro": ("Forecasting at {company}", [
        ("O", "I noticed {company} has been expanding its footprint this year. Teams in a similar position use Lumen to bring forecasting and operational metrics into one place, usually cutting weekly reporting time in half. Would a 20-minute call next week be useful?"),
        ("I", "Thanks for reaching out. Timing is actually decent; we are reviewing our reporting stack for next year. Could you send over some materials before we set up a call?"),
        ("O", "Of course. Attached is a two-page overview and a short case study: a company with a similar footprint replaced four spreadsheets with one Lumen workspace and improved forecast accuracy by 9 points in a quarter. Happy to walk you through how they set it up."),
        ("I", "I had a look at the case study. We have the same problem with spreadsheets. Let's find 30 minutes next week; Tuesday or Wednesday afternoon works best."),
        ("O", "Wednesday at 3pm it is, invite sent. I will keep it practical: your current weekly report, and what it would look like in Lumen."),
        ("I", "Thanks, see you Wednesday. I will bring our analytics lead as well."),
    ]),
    "renewal": ("Lumen renewal and finance team seats", [
        ("I", "Our renewal is coming up in a couple of months. Before we discuss numbers, can you share our usage over the last quarter? Finance will want to see it."),
        ("O", "Thanks for the heads-up. Attached is your usage report for the last quarter: 64 weekly active users and 310 scheduled reports. Happy to walk finance through it."),
        ("I", "The usage report is helpful. We would like to add the finance team, around 25 more seats. Can you send a quote for the expansion together with the renewal?"),
        ("O", "Great to hear the finance team is joining. The attached quote includes the renewal and 25 additional seats, co-termed to your renewal date, at your current rate."),
        ("I", "Thanks for the quote. I will get it approved internally and come back to you next week."),
        ("O", "Sounds good. I have put a placeholder on your calendar for next Thursday in case it helps to review it together."),
    ]),
    "qbr": ("Quarterly business review", [
        ("I", "Could we schedule our quarterly review for early next month? I would like to cover adoption in the regional offices and the roadmap for the planning module."),
        ("O", "Absolutely. I have sent two options for the first week of next month. I will bring adoption numbers by office and a preview of the planning module."),
        ("I", "Thanks for the deck. Two topics to add: the slow load time on the inventory dashboard, and training for the new analysts who joined last month."),
        ("O", "Added both to the agenda. Our support team traced the inventory dashboard slowdown to an unindexed join, and a fix ships next week. I will also bring a proposal for a training session."),
        ("I", "Thanks for a productive session today. Could you send the slides and the training proposal?"),
        ("O", "Thanks for the time today. The slides, the recording and the training proposal are in your shared folder; next steps are summarised at the top of the deck."),
    ]),
    "integration": ("Warehouse connector question", [
        ("I", "We are trying to connect Lumen to our data warehouse but the connection test fails with a timeout. Our network team says the firewall is open. Any idea what we could check?"),
        ("O", "Sorry about the trouble. A timeout with the firewall open usually means the service account lacks the usage grant on the warehouse. Could you run the check query from our setup guide and send me the output?"),
        ("I", "That was it, the service account was missing the usage grant. The sync is running now. Is there a way to limit which schemas Lumen can see?"),
        ("O", "Glad it is working. Yes, you can restrict access in the connection settings under Schemas; anything unchecked is never read. I have also sent you our recommended least-privilege role."),
        ("I", "Perfect, we applied the least-privilege role and everything still syncs. Thanks for the quick help."),
        ("O", "Great. I will let the team know the connection is healthy; ping me anytime."),
    ]),
    "meeting": ("Next steps after today's demo", [
        ("O", "Thanks again for your time today. As promised, the recording and a summary of the use cases we discussed are attached. The next step would be a hands-on session with your analysts; does Wednesday at 2pm work?"),
        ("I", "Thanks for the demo, the team was impressed with the scenario planning. Wednesday at 2pm works. I will invite three analysts and our data engineer."),
        ("O", "Perfect, invite sent. I will prepare a sandbox with sample data shaped like yours so the analysts can try the scenario planner themselves."),
        ("I", "The hands-on session went well and the analysts want to keep the sandbox for another week. Is that possible? We would also like a rough proposal for a paid pilot."),
        ("O", "Done, the sandbox is extended for two weeks. I will send a pilot proposal with scope, timeline and pricing by Friday."),
        ("I", "Got the proposal, thanks. We will review it internally and come back with questions."),
    ]),
    "procurement": ("Vendor onboarding paperwork for Lumen Labs", [
        ("I", "To set you up as a vendor we need a W-9, bank details on company letterhead, and a completed supplier form. Our standard payment terms are net 60."),
        ("O", "Attached are our W-9, bank letter and the completed supplier form. Our standard terms are net 30; let me know if that causes any issue on your side."),
        ("I", "Received, thank you. Procurement asks whether you can accept net 45 instead of net 30; it would speed up approval considerably."),
        ("O", "We can do net 45 for the first year. I have updated the order form and attached the revised copy, so it should be ready to route for approval."),
        ("I", "Thanks, the vendor record is approved. The PO will follow once the order form is signed."),
        ("O", "Great, thank you for moving this along so quickly."),
    ]),
    "case_study": ("Reference call request", [
        ("I", "Before we commit, our VP would like to speak with a current customer in a similar industry. Is that something you can arrange? Ideally someone who rolled Lumen out to more than one team."),
        ("O", "Of course. One of our customers of a similar size has agreed to a 30-minute call. I have suggested Thursday or Friday afternoon; which works better for your VP?"),
        ("I", "Friday works. The reference call was very useful and our VP is now comfortable moving forward."),
        ("O", "Great to hear. I will send over the order form today so we can keep the momentum."),
    ]),
    "data_q": ("Forecast dashboard refresh time", [
        ("I", "One of our analysts noticed the forecast dashboard shows last week's numbers until about 9am. Is that expected? We have morning standups at 8:30, so it is a bit awkward."),
        ("O", "Good catch. Your workspace refreshes at 8:45am by default; I can move it to 6am so the numbers are ready for standup. Shall I make the change?"),
        ("I", "Yes please, 6am would be perfect."),
        ("O", "Done, the refresh now runs at 6am. I will keep an eye on the first few runs."),
    ]),
    "budget": ("Budget timing for next year", [
        ("I", "Quick heads-up: our budget for next year is still being finalised, so we may need to push the decision by a few weeks. I am still very keen on Lumen and the team is using the sandbox daily."),
        ("O", "Thanks for letting me know. Would it help if I put together a one-page business case for the budget discussion? I can base it on your sandbox usage and the savings we estimated together. If the decision moves to January, I can also hold the current pricing until the end of Q1."),
        ("I", "A business case would help a lot, thank you."),
        ("O", "Here it is, one page with the numbers we agreed on. Let me know if finance wants to change any assumptions."),
    ]),
}
BUMPS = [
    "Just floating this back to the top of your inbox. Happy to adjust the proposal if priorities have shifted on your side.",
    "Following up on my note below. If someone else on your team is better placed to discuss this, I would appreciate a pointer.",
]
SIGNOFFS_IN = ["Best", "Thanks", "Cheers", "Kind regards", "Thank you", "Best regards"]
SIGNOFFS_OUT = ["Thanks", "Best", "Best regards", "Cheers"]


# ---------------------------------------------------------------------------------------------
# Gmail resources
# ---------------------------------------------------------------------------------------------

USED_GMAIL_IDS = []
_USED_GMAIL_SET = set()


def gmail_id(t):
    """16 lowercase hex digits; like real Gmail ids, they grow with time."""
    while True:
        s = format((ms(t) << 20) | rng.getrandbits(20), "016x")
        if s not in _USED_GMAIL_SET:
            _USED_GMAIL_SET.add(s)
            USED_GMAIL_IDS.append(s)
            return s


_MSGID_SEEN = set()


def message_id_header(t, domain, outbound):
    while True:
        if outbound:
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            v = "<CAL" + "".join(rng.choice(alphabet) for _ in range(28)) + "@mail.lumenlabs.example>"
        else:
            v = "<%s.%08x@mail.%s>" % (t.strftime("%Y%m%d%H%M%S"), rng.getrandbits(32), domain)
        if v not in _MSGID_SEEN:
            _MSGID_SEEN.add(v)
            return v


def b64(text):
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii")


def hdr(name, value):
    return {"name": name, "value": value}


def leaf(part_id, mime, text, top_headers=None, lean=False):
    data = text.encode("utf-8")
    headers = top_headers if top_headers is not None else []
    headers = headers + [hdr("Content-Type", f'{mime}; charset="UTF-8"')]
    if not lean:
        headers.append(hdr("Content-Transfer-Encoding", "quoted-printable"))
    return {"partId": part_id, "mimeType": mime, "filename": "", "headers": headers,
            "body": {"size": len(data), "data": b64(text)}}


def to_html(main, quote_attr=None, quote_lines=None, direction="ltr"):
    out = [f'<div dir="{direction}">']
    for para in main.split("\n\n"):
        out.append("<p>" + "<br>".join(html.escape(line, quote=False) for line in para.split("\n")) + "</p>")
    out.append("</div>")
    if quote_attr:
        out.append('<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">' + html.escape(quote_attr, quote=False)
                   + '<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
                   + "<br>".join(html.escape(q, quote=False) for q in quote_lines) + "</blockquote></div>")
    return "".join(out)


def snippet_of(text):
    s = " ".join(text.split())
    return s[:140].rstrip()


def size_estimate(headers, bodies):
    n = sum(len(f"{h['name']}: {h['value']}\r\n".encode("utf-8")) for h in headers)
    n += sum(len(b.encode("utf-8")) * 105 // 100 + 120 for b in bodies)
    return n + 64


def build_message(*, thread_id, t, frm, to, cc, subject, msgid, parent, references, main, labels,
                  multipart, quote=None, extra_headers=(), direction="ltr", msg_id=None, lean=False):
    """One Gmail Message resource (format=full). `quote` = (attribution, lines) or None."""
    mid = msg_id or gmail_id(t)
    plain = main
    if quote:
        plain = main + "\n\n" + quote[0] + "\n" + "\n".join("> " + q if q else ">" for q in quote[1]) + "\n"
    headers = [] if lean else [hdr("MIME-Version", "1.0")]
    headers += [hdr("Date", rfc2822(t)), hdr("Message-ID", msgid)]
    if parent:
        headers += [hdr("In-Reply-To", parent), hdr("References", " ".join(references))]
    headers += [hdr("Subject", subject), hdr("From", frm), hdr("To", to)]
    if cc:
        headers.append(hdr("Cc", cc))
    headers += [hdr(n, v) for n, v in extra_headers]
    if multipart:
        boundary = "000000000000" + format(rng.getrandbits(48), "012x")
        headers.append(hdr("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        html_text = to_html(main, quote[0] if quote else None, quote[1] if quote else None, direction)
        payload = {"partId": "", "mimeType": "multipart/alternative", "filename": "", "headers": headers,
                   "body": {"size": 0},
                   "parts": [leaf("0", "text/plain", plain), leaf("1", "text/html", html_text)]}
        bodies = [plain, html_text]
    else:
        payload = leaf("", "text/plain", plain, headers, lean=lean)
        bodies = [plain]
    return {
        "id": mid, "threadId": thread_id, "labelIds": list(labels), "snippet": snippet_of(main),
        "payload": payload, "sizeEstimate": size_estimate(payload["headers"], bodies),
        "historyId": None, "internalDate": str(ms(t)),
    }


def header_of(m, name):
    for h in m["payload"]["headers"]:
        if h["name"].lower() == name.lower():
            return h["value"]
    return None


class ThreadBuilder:
    def __init__(self, subject, domain, kind):
        self.subject = subject
        self.domain = domain
        self.kind = kind
        self.messages = []
        self.meta = []  # per message: (outbound, t, main, from_label)
        self.id = None
        self.contact_ids = []

    def add(self, t, outbound, *, frm, to, cc=None, main, labels, multipart=True, quote=False,
            subject=None, extra_headers=(), direction="ltr", lean=False, ref_window=10, msgid=None):
        if self.messages:
            assert t > self.meta[-1][1], "messages must be strictly increasing in time"
        mid = gmail_id(t)
        if self.id is None:
            self.id = mid
        msgid = msgid or message_id_header(t, self.domain, outbound)
        parent, refs = None, []
        if self.messages:
            prev = self.messages[-1]
            parent = header_of(prev, "Message-ID")
            prev_refs = (header_of(prev, "References") or "").split()
            chain = prev_refs + [parent]
            if len(chain) > ref_window:  # keep the root and the most recent ids (RFC 5322 3.6.4)
                chain = [chain[0]] + chain[-(ref_window - 1):]
            refs = chain
        subj = subject if subject is not None else (("Re: " + self.subject) if self.messages else self.subject)
        q = None
        if quote and self.meta:
            pt, pmain, plabel = self.meta[-1][1], self.meta[-1][2], self.meta[-1][3]
            attribution = f"On {pt.strftime('%a')}, {pt.day} {pt.strftime('%b %Y at %H:%M')}, {plabel} wrote:"
            q = (attribution, pmain.split("\n")[:8])
        m = build_message(thread_id=self.id, t=t, frm=frm, to=to, cc=cc, subject=subj, msgid=msgid,
                          parent=parent, references=refs, main=main, labels=labels, multipart=multipart,
                          quote=q, extra_headers=extra_headers, direction=direction, msg_id=mid, lean=lean)
        self.messages.append(m)
        self.meta.append((outbound, t, main, frm))
        return m

    def resource(self):
        return {"id": self.id, "snippet": self.messages[-1]["snippet"], "historyId": None,
                "messages": self.messages}


def compose(c, body, outbound):
    if outbound:
        return f"Hi {c['first']},\n\n{body}\n\n{rng.choice(SIGNOFFS_OUT)},\nJordan\n\n{SIGNATURE}"
    return f"Hi Jordan,\n\n{body}\n\n{rng.choice(SIGNOFFS_IN)},\n{c['first']}"


def inbound_labels(t, last_of_thread):
    labels = []
    if last_of_thread and age_days(t) < 3:
        labels.append("UNREAD")
    if rng.random() < 0.45:
        labels.append("IMPORTANT")
    return labels + ["CATEGORY_PERSONAL", "INBOX"]


def times_back(t_last, n, mode):
    """n message times ending at t_last, earlier ones in working hours on weekdays."""
    ts = [jitter(t_last)]
    for _ in range(n - 1):
        nxt = ts[0]
        gap = rng.choice([0, 0, 1, 1, 1, 2, 3]) if mode == "active" else rng.choice([1, 1, 2, 2, 3, 4, 6])
        d = (nxt - dt.timedelta(days=gap)).date()
        t = dt.datetime(d.year, d.month, d.day, rng.randint(8, 17), rng.randrange(60), tzinfo=UTC)
        while t >= nxt - dt.timedelta(minutes=25) or t.weekday() >= 5:
            t -= dt.timedelta(days=1)
        ts.insert(0, jitter(t))
    return ts


# Thread plan: (category, contact id, topic, number of script messages, time of the last message, options)
#   ri = reply_inbound (last inbound, unanswered), fu = follow_up (we wrote last, 3-12 business days),
#   recent = settled (we replied last within 2 days), old = closed conversation (> 40 days ago).
THREAD_PLAN = [
    # reply_inbound
    ("ri", "1001", "redlines", 5, hours_ago(2.5), {"cc": "1003"}),
    ("ri", "1004", "pilot", 4, hours_ago(22.0), {}),
    ("ri", "1007", "security", 3, hours_ago(53.0), {}),
    ("ri", "1017", "meeting", 2, hours_ago(96.0), {}),
    ("ri", "1018", "pricing", 3, hours_ago(4.0), {}),
    ("ri", "1024", "integration", 3, hours_ago(44.0), {}),
    ("ri", "1028", "redlines", 3, hours_ago(1.2), {"cc": "1029"}),
    ("ri", "1038", "emoji", 2, hours_ago(6.5), {}),
    ("ri", "1041", "escape", 3, hours_ago(27.0), {}),
    ("ri", "1051", "case_study", 1, hours_ago(73.0), {}),
    ("ri", "1031", "meeting", 4, hours_ago(118.0), {}),
    ("ri", "1047", "data_q", 1, hours_ago(140.0), {}),
    # follow_up (the operator wrote last; no reply)
    ("fu", "1003", "procurement", 4, at(2026, 11, 17, 10, 20), {}),
    ("fu", "1006", "pricing", 4, at(2026, 11, 13, 16, 5), {}),
    ("fu", "1019", "intro", 1, at(2026, 11, 12, 9, 40), {}),
    ("fu", "1022", "budget", 2, at(2026, 11, 10, 14, 10), {}),
    ("fu", "1030", "pilot", 3, at(2026, 11, 6, 10, 0), {"bump": True}),
    ("fu", "1039", "intro", 1, at(2026, 11, 4, 9, 15), {"bump": True}),
    ("fu", "1013", "meeting", 1, at(2026, 11, 16, 11, 0), {}),
    # settled: the operator replied last within the last 2 days
    ("recent", "1002", "security", 4, hours_ago(3.0), {"cc_colleague": True}),
    ("recent", "1016", "meeting", 3, hours_ago(20.0), {}),
    ("recent", "1020", "integration", 2, hours_ago(26.0), {}),
    ("recent", "1023", "procurement", 2, hours_ago(5.0), {}),
    ("recent", "1026", "renewal", 4, hours_ago(30.0), {"cc": "1027"}),
    ("recent", "1029", "redlines", 2, hours_ago(45.0), {}),
    ("recent", "1032", "integration", 4, hours_ago(8.0), {}),
    ("recent", "1055", "case_study", 2, hours_ago(23.0), {}),
    ("recent", "1033", "qbr", 2, hours_ago(40.0), {}),
    ("recent", "1027", "qbr", 4, hours_ago(12.0), {}),
    ("recent", "1005", "procurement", 2, hours_ago(35.0), {}),
    ("recent", "1018", "security", 2, hours_ago(28.0), {}),
    ("recent", "1001", "case_study", 2, hours_ago(47.0), {}),
    ("recent", "1025", "security", 4, hours_ago(16.0), {}),
    ("recent", "1053", "meeting", 3, hours_ago(10.0), {}),
    ("recent", "1052", "integration", 2, hours_ago(33.0), {}),
    ("recent", "1021", "security", 2, hours_ago(18.0), {"cc_colleague": True}),
    ("recent", "1056", "meeting", 3, hours_ago(41.0), {}),
    # old, closed conversations (> 40 days ago)
    ("old", "1008", "pilot", 5, days_ago(45, 11), {}),
    ("old", "1008", "intro", 2, days_ago(95, 10), {}),
    ("old", "1010", "pricing", 4, days_ago(50, 15), {}),
    ("old", "1010", "intro", 3, days_ago(120, 9), {}),
    ("old", "1014", "meeting", 3, days_ago(42, 16), {}),
    ("old", "1014", "intro", 3, days_ago(75, 14), {}),
    ("old", "1005", "intro", 2, days_ago(150, 10), {}),
    ("old", "1011", "integration", 4, days_ago(60, 13), {}),
    ("old", "1015", "meeting", 3, days_ago(85, 11), {}),
    ("old", "1021", "intro", 4, days_ago(130, 15), {}),
    ("old", "1025", "intro", 3, days_ago(110, 10), {}),
    ("old", "1027", "renewal", 6, days_ago(100, 12), {}),
    ("old", "1033", "redlines", 4, days_ago(155, 16), {}),
    ("old", "1033", "onboarding", 6, days_ago(143, 10), {"cc_colleague": True}),
    ("old", "1035", "pricing", 4, days_ago(45, 14), {}),
    ("old", "1053", "intro", 3, days_ago(90, 9), {}),
    ("old", "1052", "intro", 2, days_ago(100, 11), {}),
    ("old", "1050", "intro", 4, days_ago(65, 15), {}),
    ("old", "1056", "intro", 3, days_ago(75, 10), {}),
    ("old", "1054", "intro", 1, days_ago(58, 9), {"bump": True}),
    ("old", "1016", "pilot", 6, days_ago(70, 13), {}),
    ("old", "1016", "redlines", 4, days_ago(58, 11), {}),
    ("old", "1006", "intro", 4, days_ago(48, 10), {}),
    ("old", "1001", "intro", 4, days_ago(90, 15), {}),
    ("old", "1001", "meeting", 3, days_ago(75, 16), {}),
    ("old", "1001", "pilot", 6, days_ago(44, 12), {"cc": "1047"}),
    ("old", "1004", "intro", 3, days_ago(80, 9), {}),
    ("old", "1018", "meeting", 3, days_ago(64, 14), {}),
    ("old", "1028", "meeting", 3, days_ago(56, 10), {}),
    ("old", "1031", "intro", 4, days_ago(72, 11), {}),
    ("old", "1024", "intro", 2, days_ago(66, 15), {}),
    ("old", "1038", "intro", 3, days_ago(62, 9), {}),
    ("old", "1026", "data_q", 2, days_ago(120, 10), {}),
    ("old", "1032", "intro", 3, days_ago(85, 13), {}),
]

AUTOMATED = [
    ("CloudNest Billing", "noreply@billing.cloudnest.example", "Your CloudNest invoice for November 2026",
     "CATEGORY_UPDATES", hours_ago(30.0), False,
     "Your invoice INV-2026-11-4471 for 1,240.00 USD is now available. The amount will be charged to the card on file on 1 December 2026. You can download the PDF from the billing console. This mailbox is not monitored."),
    ("SaaS Weekly", "newsletter@saasweekly.example", "SaaS Weekly #212: pricing pages that convert",
     "CATEGORY_PROMOTIONS", hours_ago(52.0), True,
     "This week: five pricing pages that doubled their demo requests, why annual plans are back, and a teardown of usage-based billing. Plus: the best-performing subject lines from 1,200 sales sequences. Read online or unsubscribe at any time."),
    ("MeetBook", "notifications@meetbook.example", "New booking: Lumen demo with Harbor & Vale (Tue 24 Nov)",
     "CATEGORY_UPDATES", hours_ago(20.0), False,
     "A new event has been booked on your calendar: Lumen demo, Tuesday 24 November 2026, 16:00 to 16:45 UTC. Invitee: Olivia Chen. Location: video call link in the calendar invite. Reschedule or cancel from your MeetBook dashboard."),
    ("RevOps Digest", "newsletter@revops-digest.example", "This week in RevOps: forecasting benchmarks for 2027",
     "CATEGORY_PROMOTIONS", hours_ago(100.0), True,
     "Our annual forecasting benchmark is out: median forecast accuracy rose to 81% among teams using a single source of truth. Inside: pipeline coverage ratios by segment, win rates by deal size, and three templates you can copy."),
    ("SignFlow", "no-reply@signflow.example", "Nettlefield Pharma viewed \"Lumen Order Form\"",
     "CATEGORY_UPDATES", hours_ago(8.0), False,
     "Yuki Tanaka viewed the document \"Lumen Order Form - Nettlefield Pharma\" at 06:58 UTC. The document has not been signed yet. You will be notified when all parties have signed."),
    ("DataOps Summit", "newsletter@dataops-summit.example", "Last chance: DataOps Summit early-bird pricing ends Friday",
     "CATEGORY_PROMOTIONS", hours_ago(130.0), True,
     "Early-bird tickets for DataOps Summit 2027 end this Friday. Join 2,000 data leaders for two days of talks on modern analytics, governance and AI-assisted forecasting. Use code EARLY27 for 30% off."),
]


def build_script_thread(cat, c, topic, n, t_last, opts):
    subject_tpl, script = TOPICS[topic]
    fmt = {"company": COMPANY[c["company_id"]][1], "seats": seats_for(c["company_id"])}
    subject = subject_tpl.format(**fmt)
    steps = [(d, body.format(**fmt)) for d, body in script[:n]]
    if opts.get("bump"):
        assert steps[-1][0] == "O"
        steps.append(("O", rng.choice(BUMPS)))
    want_last = {"ri": "I", "fu": "O", "recent": "O"}.get(cat)
    assert want_last is None or steps[-1][0] == want_last, (cat, c["id"], topic, n)
    mode = "old" if cat == "old" else "active"
    times = times_back(t_last, len(steps), mode)
    tb = ThreadBuilder(subject, c["domain"], cat)
    tb.contact_ids.append(c["id"])
    cc_contact = CONTACT[opts["cc"]] if "cc" in opts else None
    if cc_contact:
        tb.contact_ids.append(cc_contact["id"])
    for i, ((d, body), t) in enumerate(zip(steps, times)):
        outbound = d == "O"
        main = compose(c, body, outbound)
        last = i == len(steps) - 1
        cc = None
        if cc_contact and (outbound or rng.random() < 0.5):
            cc = mailbox(cc_contact)
        if opts.get("cc_colleague"):
            cc = COLLEAGUE if cc is None else cc + ", " + COLLEAGUE
        if outbound:
            tb.add(t, True, frm=OPERATOR, to=mailbox(c), cc=cc, main=main, labels=["SENT"],
                   multipart=rng.random() < 0.75, quote=i > 0 and rng.random() < 0.35)
        else:
            tb.add(t, False, frm=mailbox(c), to=OPERATOR, cc=cc, main=main, labels=inbound_labels(t, last),
                   multipart=rng.random() < 0.75, quote=i > 0 and rng.random() < 0.35)
    return tb


def build_emoji_thread(c, t_last):
    times = times_back(t_last, 2, "active")
    tb = ThreadBuilder(EMOJI_SUBJECT, c["domain"], "ri")
    tb.contact_ids.append(c["id"])
    out_body = (f"Hi {c['first']},\n\nAs promised, here is the draft plan for the Q1 rollout 🚀: Haifa terminal in January, "
                "the two inland depots in February, and the full dashboard suite by the end of March. Each phase has a "
                "two-week hypercare window. Let me know what your team thinks before we book the steering committee 🎉."
                f"\n\nBest,\nJordan\n\n{SIGNATURE}")
    tb.add(times[0], True, frm=OPERATOR, to=mailbox(c), main=out_body, labels=["SENT"])
    in_body = ("Hi Jordan,\n\nשלום! The port team loved the plan 🎉🚢. Our operations supervisors asked: "
               "هل يمكن عرض لوحة المعلومات باللغة العربية؟ (can the dashboard be shown in Arabic?) "
               "We would also like Hebrew labels on the berth-occupancy view: תפוסת רציפים 📊.\n\n"
               "For Q1 we agree to start with the Haifa terminal 🚀, but could hypercare be three weeks instead of two? "
               "Our night shift only overlaps with your support hours on weekdays.\n\n"
               f"תודה רבה, شكراً 🙏\n{c['first']} {c['last']}")
    tb.add(times[1], False, frm=mailbox(c), to=OPERATOR, main=in_body, labels=inbound_labels(times[1], True),
           direction="auto")
    return tb


def build_escape_thread(c, t_last):
    times = times_back(t_last, 3, "active")
    tb = ThreadBuilder(HOSTILE_SUBJECT, c["domain"], "ri")
    tb.contact_ids.append(c["id"])
    b1 = ("Hi Jordan,\n\nOur internal audit flagged that we cannot see who accessed the Lumen workspace last quarter. "
          "Can you tell us whether an access log export is available on our plan?\n\nThanks,\nCaleb")
    b2 = (f"Hi Caleb,\n\nYes, the audit log export is included. An admin can download it under Settings, Audit log, "
          f"or I can send the last 90 days as a CSV today. Which would you prefer?\n\nBest,\nJordan\n\n{SIGNATURE}")
    b3 = (f"Hi Jordan,\n\n{ESC}[2JPlease send the CSV today if you can.{BEL} Our auditors need it before Monday's "
          "meeting, and they also asked whether exports include failed login attempts. If not, can your team add "
          "them?\n\nThanks,\nCaleb")
    tb.add(times[0], False, frm=mailbox(c), to=OPERATOR, main=b1, labels=inbound_labels(times[0], False),
           subject=HOSTILE_SUBJECT)
    tb.add(times[1], True, frm=OPERATOR, to=mailbox(c), main=b2, labels=["SENT"], subject="Re: " + HOSTILE_SUBJECT)
    tb.add(times[2], False, frm=mailbox(c), to=OPERATOR, main=b3, labels=inbound_labels(times[2], True),
           subject="Re: " + HOSTILE_SUBJECT, multipart=False)
    return tb


def build_automated_thread(spec):
    name, addr, subject, category, t, is_newsletter, text = spec
    t = jitter(t)
    domain = addr.split("@", 1)[1]
    tb = ThreadBuilder(subject, domain, "automated")
    extra = [("Precedence", "bulk")] if is_newsletter else [("Auto-Submitted", "auto-generated")]
    if is_newsletter:
        extra.append(("List-Unsubscribe", f"<mailto:unsubscribe@{domain}>, <https://{domain}/unsubscribe?u=j.reyes>"))
    labels = (["UNREAD"] if age_days(t) < 3 else []) + [category, "INBOX"]
    tb.add(t, False, frm=f"{name} <{addr}>", to=OPERATOR, main=text, labels=labels, extra_headers=extra)
    return tb


LARGE_IN = [
    "The 06:00 risk desk sync ran late again (job {n}).",
    "Can we add two viewers to the treasury dashboard? ({n})",
    "FX table still shows yesterday's rates, job {n}.",
    "That fixed it. Can alerts go to a shared inbox? ({n})",
    "Auditor wants the scheduled reports list ({n}).",
    "Job {n} failed with a warehouse timeout at 05:58.",
    "Where do column permissions live again? ({n})",
    "All green today, thanks! ({n})",
    "Blank chart on the liquidity view, ticket {n}.",
    "Can we pin a filter for everyone on the portfolio page? ({n})",
]
LARGE_OUT = [
    "Looking at job {n} now, will confirm when green.",
    "Done, both viewers added. ({n})",
    "Upstream rate source lagged; job {n} re-run, all current.",
    "Yes: Settings > Alerts, add the shared address. ({n})",
    "Export attached for {n}: owner, schedule, last run.",
    "Retried job {n} with a longer timeout; done at 06:21.",
    "Data > Permissions > Columns. ({n})",
    "Great to hear! ({n})",
    "Stale cached query; fixed, ticket {n} closed.",
    "Yes, admins can pin a default filter from the page menu. ({n})",
]


def build_large_thread(c, t_first, t_last, n=2000):
    # Directions: alternate, with the occasional double message; the last one is inbound.
    dirs = []
    d = "I"
    for i in range(n):
        dirs.append(d)
        if rng.random() < 0.92:
            d = "O" if d == "I" else "I"
    dirs[-1] = "I"
    gaps = [rng.uniform(0.2, 1.0) if rng.random() < 0.8 else rng.uniform(2.0, 14.0) for _ in range(n - 1)]
    span = (t_last - t_first).total_seconds()
    scale = span / sum(gaps)
    times = [t_first]
    acc = 0.0
    for g in gaps:
        acc += g * scale
        times.append(t_first + dt.timedelta(seconds=int(acc)))
    times[-1] = t_last
    for i in range(1, n):  # strictly increasing, millisecond jitter within the second
        if times[i] <= times[i - 1]:
            times[i] = times[i - 1] + dt.timedelta(seconds=1)
    times = [t.replace(microsecond=rng.randrange(1000) * 1000) for t in times]
    subject = "Daily sync questions"
    tb = ThreadBuilder(subject, c["domain"], "large")
    tb.contact_ids.append(c["id"])
    for i, (dd, t) in enumerate(zip(dirs, times)):
        ref = 7000 + i
        if dd == "I":
            body = LARGE_IN[i % len(LARGE_IN)].format(n=ref) + "\nZoe"
            labels = (["UNREAD"] if age_days(t) < 2 else []) + ["INBOX"]
            tb.add(t, False, frm=mailbox(c), to=OPERATOR, main=body, labels=labels, multipart=False, lean=True,
                   ref_window=2, msgid=f"<q{ref}.{rng.getrandbits(16):04x}@quayside-capital.example>")
        else:
            body = LARGE_OUT[i % len(LARGE_OUT)].format(n=ref) + "\nJ."
            tb.add(t, True, frm=OPERATOR, to=mailbox(c), main=body, labels=["SENT"], multipart=False, lean=True,
                   ref_window=2, msgid=f"<L{ref}.{rng.getrandbits(16):04x}@lumenlabs.example>")
    return tb


# Build all threads.
THREADS = []   # ThreadBuilder objects for threads.json, in plan order
for cat, cid, topic, n, t_last, opts in THREAD_PLAN:
    c = CONTACT[cid]
    if topic == "emoji":
        tb = build_emoji_thread(c, t_last)
    elif topic == "escape":
        tb = build_escape_thread(c, t_last)
    else:
        tb = build_script_thread(cat, c, topic, n, t_last, opts)
    tb.kind = cat
    THREADS.append(tb)
for spec in AUTOMATED:
    THREADS.append(build_automated_thread(spec))

LARGE = build_large_thread(CONTACT["1034"], at(2026, 6, 29, 9, 0), jitter(hours_ago(3.0)))

# Drafts: replies inside reply_inbound threads, and brand-new outreach.
REPLY_DRAFTS = [
    ("1001", "Thanks Dana. Yes, we can date the first invoice January 1; I have added that to the order form and attached the final version. Once your CFO signs, I will countersign the same day and set up the onboarding kickoff.", 1.5),
    ("1004", "Glad the reconciliation call helped. I have sent three options for a 45-minute review with your VP next week. I will bring adoption numbers by team, forecast accuracy against your actuals, and how two similar customers measured adoption during their pilots.", 18.0),
    ("1024", "Glad the sync is running. Yes: in the connection settings under Schemas, anything unchecked is never read by Lumen. I have attached our recommended least-privilege role so your team can lock it down further.", 40.0),
    ("1028", "Thanks Yuki. Good news: we can agree to a 60-day non-renewal notice. The updated order form and MSA are attached; once Daniel confirms the language I will send the final version through e-sign.", 0.5),
]
NEW_DRAFTS = [
    ("1037", "Forecasting at Saffron Table Group",
     "I saw that you downloaded our analytics ROI playbook a few weeks ago. Restaurant groups of your size often use Lumen to forecast covers and food cost by location, and to replace the Monday spreadsheet roll-up. Would a 20-minute call next week be useful to see whether it fits?", 2.2),
    ("1014", "Checking in on the plant performance suite",
     "It has been a few weeks since we last spoke about the plant performance suite. Has the team had a chance to review the proposal for the three Pittsburgh lines? If priorities have moved, I am happy to rescope the first phase so it fits this year's budget.", 6.0),
    ("1010", "Member analytics: picking up where we left off",
     "I wanted to pick up our conversation about member analytics. We have since released the churn-risk model we discussed, and two credit unions are now using it in production. Would it be worth a short call to see it on your data?", 26.0),
]

_draft_num = []


def draft_id():
    while True:
        v = rng.randrange(10 ** 18, 9 * 10 ** 18)
        s = ("r-" if rng.random() < 0.5 else "r") + str(v)
        if s not in _draft_num:
            _draft_num.append(s)
            return s


THREAD_BY_CONTACT_RI = {tb.contact_ids[0]: tb for tb in THREADS if tb.kind == "ri"}
DRAFTS = []
DRAFT_META = []  # (kind, contact id, thread id)
for cid, text, h in REPLY_DRAFTS:
    c = CONTACT[cid]
    tb = THREAD_BY_CONTACT_RI[cid]
    last = tb.messages[-1]
    t = jitter(hours_ago(h))
    assert t > tb.meta[-1][1]
    parent = header_of(last, "Message-ID")
    refs = (header_of(last, "References") or "").split() + [parent]
    body = f"Hi {c['first']},\n\n{text}\n\nBest,\nJordan\n\n{SIGNATURE}"
    subj = header_of(last, "Subject")
    subj = subj if subj.startswith("Re: ") else "Re: " + subj
    m = build_message(thread_id=tb.id, t=t, frm=OPERATOR, to=mailbox(c), cc=None, subject=subj,
                      msgid=message_id_header(t, "lumenlabs.example", True), parent=parent, references=refs,
                      main=body, labels=["DRAFT"], multipart=True)
    DRAFTS.append({"id": draft_id(), "message": m})
    DRAFT_META.append(("reply", cid, tb.id))
for cid, subject, text, h in NEW_DRAFTS:
    c = CONTACT[cid]
    t = jitter(hours_ago(h))
    mid = gmail_id(t)
    body = f"Hi {c['first']},\n\n{text}\n\nBest,\nJordan\n\n{SIGNATURE}"
    m = build_message(thread_id=mid, t=t, frm=OPERATOR, to=mailbox(c), cc=None, subject=subject,
                      msgid=message_id_header(t, "lumenlabs.example", True), parent=None, references=[],
                      main=body, labels=["DRAFT"], multipart=True, msg_id=mid)
    DRAFTS.append({"id": draft_id(), "message": m})
    DRAFT_META.append(("new", cid, mid))

# History ids grow with time across the whole mailbox.
_all_msgs = [m for tb in THREADS for m in tb.messages] + LARGE.messages + [d["message"] for d in DRAFTS]
_all_msgs.sort(key=lambda m: (int(m["internalDate"]), m["id"]))
for i, m in enumerate(_all_msgs):
    m["historyId"] = str(4812000 + i * 7 + rng.randrange(7))
for tb in THREADS + [LARGE]:
    tb.history = str(max(int(m["historyId"]) for m in tb.messages))
PROFILE_HISTORY = str(max(int(m["historyId"]) for m in _all_msgs) + 12)


# ---------------------------------------------------------------------------------------------
# Exchange facts per contact (used for notes_last_contacted and for the checks)
# ---------------------------------------------------------------------------------------------

def msg_time(m):
    return EPOCH + dt.timedelta(milliseconds=int(m["internalDate"]))


def addr_list(v):
    out = []
    for part in (v or "").split(","):
        part = part.strip()
        if "<" in part:
            part = part[part.rfind("<") + 1:part.rfind(">")]
        if "@" in part:
            out.append(part.lower())
    return out


EMAIL_TO_CONTACT = {c["email"]: c["id"] for c in CONTACT.values() if c["email"]}


def exchanges():
    """Per contact id: list of message times (non-automated, either direction)."""
    res = {}
    for tb in THREADS + [LARGE]:
        for m in tb.messages:
            frm = addr_list(header_of(m, "From"))[0]
            outbound = frm == OPERATOR_EMAIL
            automated = tb.kind == "automated"
            if automated:
                continue
            people = addr_list(header_of(m, "To")) + addr_list(header_of(m, "Cc")) if outbound else [frm]
            for p in people:
                if p in EMAIL_TO_CONTACT:
                    res.setdefault(EMAIL_TO_CONTACT[p], []).append(msg_time(m))
    return res


EXCHANGES = exchanges()


# ---------------------------------------------------------------------------------------------
# HubSpot records
# ---------------------------------------------------------------------------------------------

def assoc(kind, label, ids):
    return {kind: {"results": [{"id": i, "type": label} for i in ids]}}


def crm(oid, props, created, updated, associations=None):
    o = {"id": oid, "properties": props, "createdAt": iso(created), "updatedAt": iso(updated), "archived": False}
    if associations:
        o["associations"] = associations
    return o


# Deals: stage, amount, created (days ago), stage entered (hours ago), close (days from anchor; +future),
# last activity (days ago), type, note.
DEALS = [
    ("3001", "Acme Logistics — Lumen Enterprise (400 seats)", "2001", ["1001", "1003", "1002"], "contractsent", 148000, 96, 9 * 24 + 3, 3, 1.2, "newbusiness",
     "Dana confirmed budget approval for 400 seats. Order form with procurement (Priya); legal redlines on the liability cap and first invoice date still open."),
    ("3002", "Brightwater Foods — Analytics platform", "2002", ["1004", "1005"], "decisionmakerboughtin", 64000, 88, 12 * 24 + 5, 5, 2.1, "newbusiness",
     "Pilot review with Elena: forecast accuracy within 4%, 18 active analysts. Tom (CFO) supportive; waiting on the final pilot readout."),
    ("3003", "Cobalt Health — Clinical ops dashboards", "2003", ["1006", "1007"], "contractsent", 27500, 74, 8 * 24 + 2, 6, 3.2, "newbusiness",
     "Contract sent. Security review nearly closed; Samuel needs answers on customer-managed keys and incident notification."),
    ("3004", "Kestrel Aerospace — Program analytics", "2011", ["1022", "1023"], "presentationscheduled", 36000, 110, 20 * 24, -5, 6.3, "newbusiness",
     "Ingrid says next year's budget is not final. Close date passed; need to confirm a realistic date or push to Q1."),
    ("3005", "Driftwood Outfitters — eCommerce forecasting", "2004", ["1008"], "qualifiedtobuy", 52000, 130, 35 * 24 + 6, 40, 22.4, "newbusiness",
     "Hannah liked the pilot results but wants to wait for the peak-season post-mortem. Agreed to reconnect in two weeks."),
    ("3006", "Evergreen Credit Union — Member analytics", "2005", ["1010"], "presentationscheduled", 88000, 140, 40 * 24 + 2, 55, 31.2, "newbusiness",
     "Ruth pushed back on the platform fee. Sent the two-year option; no decision yet. Board meeting was mentioned as the next checkpoint."),
    ("3007", "Foxglove Media — Audience insights pilot", "2006", ["1012"], "appointmentscheduled", 12000, 60, 50 * 24 + 1, 70, 47.3, "newbusiness",
     "Intro call with Aisha booked through the website. Interested in audience retention dashboards; asked for a pilot quote."),
    ("3008", "Granite Peak Manufacturing — Plant performance suite", "2007", ["1014"], "decisionmakerboughtin", 175000, 150, 30 * 24 + 4, 25, 18.2, "newbusiness",
     "Walter has sign-off in principle for three lines in Pittsburgh. Proposal sent; waiting on their capex committee."),
    ("3009", "Harbor & Vale — Claims analytics expansion", "2008", ["1016", "1017"], "presentationscheduled", 42000, 40, 25.0, 30, 1.05, "existingbusiness",
     "Pilot team presented results to the claims leadership. Demo for the wider actuarial team booked for Tuesday."),
    ("3010", "Ironleaf Software — Finance & RevOps analytics", "2009", ["1018", "1019"], "decisionmakerboughtin", 96000, 70, 50.0, 21, 2.05, "newbusiness",
     "Sofia (VP Finance) is the economic buyer and is bought in. Needs a business case for the CEO and pricing on a two-year term."),
    ("3011", "Juniper Education Group — Institutional research", "2010", ["1020", "1021"], "qualifiedtobuy", 18000, 30, 6.0, 45, 0.9, "newbusiness",
     "Qualified: Carmen owns the budget, SSO and data residency are the main requirements. Peter (IT) to confirm SSO provider."),
    ("3012", "Lighthouse Energy — Grid ops dashboards", "2012", ["1024", "1025"], "appointmentscheduled", 9500, 20, 10 * 24 + 3, 60, 2.2, "newbusiness",
     "First meeting with Chloe and Kwame. Small starter scope for the grid operations team; expansion potential later."),
    ("3013", "Marlow Hotels — Renewal and finance expansion", "2013", ["1026", "1027"], "qualifiedtobuy", 24000, 45, 14 * 24 + 2, 35, 1.25, "existingbusiness",
     "Renewal plus 25 finance seats. Isabella is getting internal approval; George sponsoring."),
    ("3014", "Nettlefield Pharma — Commercial analytics", "2014", ["1028", "1029"], "contractsent", 61000, 100, 5 * 24 + 1, 12, 2.3, "newbusiness",
     "Order form sent. Yuki's team accepts the liability cap but wants a 60-day non-renewal notice; Daniel (legal) reviewing the final language."),
    ("3015", "Orchard Lane Realty — Marketing analytics starter", "2015", ["1030", "1055"], "appointmentscheduled", 6000, 35, 25 * 24 + 5, 80, 9.1, "newbusiness",
     "Megan interested in a small pilot for the marketing team. Noah (broker operations) asked for a reference customer."),
    ("3016", "Pinecrest Telecom — Network analytics platform", "2016", ["1031", "1032"], "presentationscheduled", 130000, 84, 15 * 24 + 1, 28, 4.1, "newbusiness",
     "Arjun wants a technical deep-dive for the network team before the steering committee. Laura evaluating the warehouse connector."),
    ("3017", "Quayside Capital — Lumen Growth (60 seats)", "2017", ["1033", "1034"], "closedwon", 72000, 200, None, -147, 147.0, "newbusiness",
     "Signed. Henry countersigned the order form; onboarding kickoff with Zoe and Priyanka scheduled."),
    ("3018", "Harbor & Vale — Claims analytics pilot", "2008", ["1016"], "closedwon", 15500, 110, None, -55, 55.0, "newbusiness",
     "Paid pilot signed by Olivia. Success criteria agreed; expansion to the actuarial team to follow."),
    ("3019", "Redwood Robotics — Factory analytics", "2018", ["1035"], "closedlost", 44000, 120, None, -12, 12.0, "newbusiness",
     "Lost: Mateo's team decided to build in-house on their existing BI tool. Revisit in six months."),
    ("3020", "Meridian Ports — Port throughput analytics", "2020", ["1038"], "qualifiedtobuy", 33000, 66, 18 * 24 + 2, 50, 5.2, "newbusiness",
     "Layla's team reviewed the Q1 rollout plan. Requirements: Arabic and Hebrew labels, three-week hypercare for the night shift."),
    ("3021", "Marlow Hotels — Lumen Growth 2025-26", "2013", ["1027"], "closedwon", 8400, 370, None, -343, 343.0, "newbusiness",
     "First-year contract signed by George for the revenue team."),
    ("3022", "Tidewater Shipping — Fleet visibility", "2021", ["1039", "1050"], "appointmentscheduled", 22000, 70, 22 * 24 + 3, 65, 7.2, "newbusiness",
     "Mohammed referred us to Owen for the fleet visibility evaluation. Owen has not replied to the intro yet."),
    ("3023", "Umbra Security — SOC metrics", "2022", ["1041", "1040"], "qualifiedtobuy", 19500, 50, 9 * 24 + 4, 30, 3.1, "newbusiness",
     "Caleb needs audit log exports (including failed logins) for their internal audit. Nina is the technical contact."),
]
STAGE_IS_CLOSED = {"closedwon": True, "closedlost": True}

# Extra (earlier) notes on some deals, days ago.
EXTRA_NOTES = [
    ("3001", 20.3, "<p>Security review with Marcus: SOC 2 report shared, SSO required. No blockers.</p>"),
    ("3001", 44.2, "<p>Pilot wrap-up with Dana and Diego. <strong>All three success criteria met.</strong></p><ul><li>Forecast accuracy within 4%</li><li>Refresh before 6:30am</li><li>22 active analysts</li></ul>"),
    ("3002", 15.1, "<p>Elena kicked off the pilot. Warehouse connector live on day two.</p>"),
    ("3005", 40.2, "<p>Pilot readout with Hannah: good results, budget timing unclear until after peak season.</p>"),
    ("3006", 52.4, "<p>Pricing call with Ruth. Platform fee is the main objection.</p>"),
    ("3008", 41.1, "<p>On-site visit at the Pittsburgh plant with Walter. Three lines in scope for phase one.</p>"),
    ("3010", 9.2, "<p>Reference call between Sofia and a customer CFO went well.</p>"),
    ("3016", 17.0, "<p>Discovery with Arjun and Laura: 14 regional network teams, data in the central warehouse.</p>"),
]
CONTACT_NOTES = [
    ("1034", 3.4, "<p>Zoe asked for a weekly summary of sync incidents. Agreed to send it on Fridays.</p>"),
    ("1036", 39.0, "<p>Emily downloaded the ROI playbook. Not ready to talk; nurture only.</p>"),
]

DEAL_ROWS = {}
for (did, name, coid, cids, stage, amount, created_d, stage_h, close_d, act_d, dtype, note) in DEALS:
    created = jitter(days_ago(created_d, 10))
    closed = STAGE_IS_CLOSED.get(stage, False)
    if closed:
        close_t = jitter(days_ago(-close_d, 16))
        entered = close_t
        act = close_t
    else:
        close_t = in_days(close_d) if close_d > 0 else days_ago(-close_d, 17, 0)
        entered = jitter(hours_ago(stage_h))
        act = jitter(ANCHOR - dt.timedelta(days=act_d))
    DEAL_ROWS[did] = dict(id=did, name=name, company=coid, contacts=cids, stage=stage, amount=amount,
                          created=created, close=close_t, entered=entered, act=act, type=dtype, note=note,
                          closed=closed)

NOTES = []  # (note id, time, html, contact ids, deal ids)
_nid = 5001
for did, row in DEAL_ROWS.items():
    NOTES.append((str(_nid), row["act"], f"<p>{html.escape(row['note'], quote=False)}</p>", row["contacts"][:1], [did]))
    _nid += 1
for did, d_ago, body in EXTRA_NOTES:
    row = DEAL_ROWS[did]
    t = jitter(ANCHOR - dt.timedelta(days=d_ago))
    assert t < row["act"]
    NOTES.append((str(_nid), t, body, row["contacts"][:1], [did]))
    _nid += 1
for cid, d_ago, body in CONTACT_NOTES:
    NOTES.append((str(_nid), jitter(ANCHOR - dt.timedelta(days=d_ago)), body, [cid], []))
    _nid += 1

# Tasks: subject, body, status, priority, type, due (hours from anchor; negative = past), contacts, deals.
TASKS = [
    ("Send revised order form to Acme procurement", "<p>Priya has not confirmed the net 45 version. Resend with the January 1 invoice date once legal agrees.</p>", "IN_PROGRESS", "HIGH", "EMAIL", -2 * 24 - 3, ["1003"], ["3001"]),
    ("Call Ingrid: confirm new close date", "<p>Close date has passed. Ask whether the decision moves to Q1.</p>", "NOT_STARTED", "HIGH", "CALL", -4 * 24 + 1, ["1022"], ["3004"]),
    ("Finish Cobalt security questionnaire (section 4)", "<p>Encryption key management and incident response answers.</p>", "IN_PROGRESS", "MEDIUM", "TODO", -26, ["1007"], ["3003"]),
    ("Send Orchard Lane pilot scope", "Scope for a 30-day marketing analytics pilot, 10 seats.", "NOT_STARTED", "LOW", "EMAIL", -9 * 24 - 2, ["1030"], ["3015"]),
    ("Book Q4 business review with Quayside", "<p>Henry wants adoption numbers by desk.</p>", "NOT_STARTED", "MEDIUM", "CALL", -13 * 24 + 2, ["1033"], []),
    ("Pinecrest: technical deep-dive demo", "<p>Network team, 90 minutes. Bring the warehouse connector architecture.</p>", "NOT_STARTED", "HIGH", "CALL", 3 * 24 + 1, ["1031"], ["3016"]),
    ("Send Ironleaf business case", "<p>One page for the CEO: savings from retiring the finance spreadsheets.</p>", "NOT_STARTED", "MEDIUM", "EMAIL", 2 * 24 + 2, ["1018"], ["3010"]),
    ("Mutual action plan for Harbor & Vale expansion", "<p>Dates for demo, security sign-off, order form.</p>", "IN_PROGRESS", "MEDIUM", "TODO", 5 * 24, [], ["3009"]),
    ("Juniper: confirm SSO requirements with IT", "<p>Ask Peter which identity provider and whether SCIM is needed.</p>", "NOT_STARTED", "LOW", "EMAIL", 8 * 24 + 1, ["1021"], ["3011"]),
    ("Marlow renewal: prepare usage report", "<p>Last two quarters, by team.</p>", "NOT_STARTED", "LOW", "TODO", 12 * 24 + 2, ["1027"], ["3013"]),
    ("Nettlefield legal: waiting on final redlines", "<p>Daniel to confirm the notice period language.</p>", "WAITING", "MEDIUM", "TODO", 4 * 24 + 2, ["1029"], ["3014"]),
    ("Call Hannah to re-engage Driftwood", "<p>Peak season is over; ask about the post-mortem.</p>", "NOT_STARTED", "MEDIUM", "CALL", 1 * 24 + 2, ["1008"], ["3005"]),
    ("Send SOC 2 report to Acme IT", "<p>Under NDA.</p>", "COMPLETED", "MEDIUM", "EMAIL", -6 * 24, ["1002"], ["3001"]),
    ("Brightwater pilot results review", "<p>Review with Elena and Tom.</p>", "COMPLETED", "HIGH", "CALL", -3 * 24 + 1, ["1004"], ["3002"]),
    ("Send reference customer intro to Ironleaf", "", "COMPLETED", "LOW", "EMAIL", -8 * 24, ["1018"], ["3010"]),
    ("Update close plan for Kestrel", "<p>Procurement steps with Victor.</p>", "COMPLETED", "LOW", "TODO", -16 * 24 + 3, ["1023"], ["3004"]),
    ("Quayside onboarding kickoff", "<p>With Zoe and Priyanka.</p>", "COMPLETED", "HIGH", "CALL", -140 * 24, ["1034"], ["3017"]),
]


def contact_records():
    out = []
    phones = list(range(101, 199))
    rng.shuffle(phones)
    for cid, first, last, coid, title, stage in CONTACTS:
        c = CONTACT[cid]
        ex = sorted(EXCHANGES.get(cid, []))
        if cid in NEW_LEADS:
            conv_t, conv_name = NEW_LEADS[cid]
            created = jitter(conv_t)
            conv_t = created + dt.timedelta(seconds=rng.randint(2, 20), milliseconds=rng.randint(0, 999))
            num_conv = "1"
        else:
            candidates = [jitter(days_ago(rng.randint(160, 420), 9))]
            if ex:
                candidates.append(ex[0] - dt.timedelta(days=rng.randint(2, 20)))
            for row in DEAL_ROWS.values():
                if cid in row["contacts"]:
                    candidates.append(row["created"] - dt.timedelta(days=rng.randint(1, 10)))
            created = min(candidates)
            if stage == "subscriber" or rng.random() < 0.65:
                span = max(0, int(age_days(created)) - 21)
                conv_t = jitter(created + dt.timedelta(days=rng.randint(0, span)))
                conv_name = rng.choice(OLD_CONVERSION_EVENTS)
                num_conv = str(rng.randint(1, 5))
            else:
                conv_t, conv_name, num_conv = None, None, "0"
        last_contacted = ex[-1] if ex else None
        touched = [t for t in [created, conv_t, last_contacted] if t]
        modified = max(touched) + dt.timedelta(minutes=rng.randint(1, 300), seconds=rng.randint(0, 59))
        modified = min(modified, jitter(ANCHOR - dt.timedelta(minutes=rng.randint(2, 50))))
        lead_status = {
            "subscriber": None, "lead": rng.choice(["OPEN", "ATTEMPTED_TO_CONTACT"]),
            "marketingqualifiedlead": "OPEN", "salesqualifiedlead": rng.choice(["IN_PROGRESS", "CONNECTED"]),
            "opportunity": "OPEN_DEAL", "customer": "CONNECTED",
        }[stage]
        if cid in NEW_LEADS:
            lead_status = "NEW"
        props = {
            "company": c["company"],
            "createdate": iso(created),
            "email": c["email"],
            "firstname": first,
            "hs_lead_status": lead_status,
            "hs_object_id": cid,
            "hubspot_owner_id": OWNER_ID,
            "jobtitle": title,
            "lastmodifieddate": iso(modified),
            "lastname": last,
            "lifecyclestage": stage,
            "notes_last_contacted": iso(last_contacted) if last_contacted else None,
            "num_conversion_events": num_conv,
            "phone": ("+1 555 0%d" % phones.pop()) if rng.random() < 0.8 else None,
            "recent_conversion_date": iso(conv_t) if conv_t else None,
            "recent_conversion_event_name": conv_name,
        }
        c["created"], c["conv"] = created, conv_t
        out.append(crm(cid, props, created, modified,
                       {"companies": {"results": [{"id": coid, "type": "contact_to_company"},
                                                  {"id": coid, "type": "contact_to_company_unlabeled"}]}}))
    return out


def company_records():
    out = []
    for coid, name, domain, industry, emp, rev, city, country, stage in COMPANIES:
        members = [c for c in CONTACT.values() if c["company_id"] == coid]
        created = min(c["created"] for c in members) - dt.timedelta(days=rng.randint(0, 3), hours=rng.randint(1, 9))
        times = [created] + [r["act"] for r in DEAL_ROWS.values() if r["company"] == coid]
        modified = min(max(times) + dt.timedelta(minutes=rng.randint(5, 600)), jitter(ANCHOR - dt.timedelta(minutes=rng.randint(5, 90))))
        props = {
            "annualrevenue": str(rev),
            "city": city,
            "country": country,
            "createdate": iso(created),
            "domain": domain,
            "hs_lastmodifieddate": iso(modified),
            "hs_object_id": coid,
            "industry": industry,
            "lifecyclestage": stage,
            "name": name,
            "numberofemployees": str(emp),
        }
        out.append(crm(coid, props, created, modified))
    return out


def deal_records():
    out = []
    for did, r in DEAL_ROWS.items():
        modified = max(r["act"], r["entered"], r["created"]) + dt.timedelta(minutes=rng.randint(1, 90))
        modified = min(modified, jitter(ANCHOR - dt.timedelta(minutes=rng.randint(3, 40))))
        props = {
            "amount": str(r["amount"]),
            "closedate": iso(r["close"]),
            "createdate": iso(r["created"]),
            "dealname": r["name"],
            "dealstage": r["stage"],
            "dealtype": r["type"],
            "hs_lastmodifieddate": iso(modified),
            "hs_object_id": did,
            "hs_v2_date_entered_current_stage": iso(r["entered"]),
            "hubspot_owner_id": OWNER_ID,
            "notes_last_updated": iso(r["act"]),
            "pipeline": "default",
        }
        a = {}
        a.update(assoc("companies", "deal_to_company", [r["company"]]))
        a.update(assoc("contacts", "deal_to_contact", r["contacts"]))
        out.append(crm(did, props, r["created"], modified, a))
    return out


TASK_ROWS = []


def task_records():
    out = []
    for i, (subject, body, status, prio, ttype, due_h, cids, dids) in enumerate(TASKS):
        tid = str(4001 + i)
        due = (ANCHOR + dt.timedelta(hours=due_h)).replace(minute=0, second=0, microsecond=0)
        created = jitter(min(due, ANCHOR) - dt.timedelta(days=rng.randint(2, 12), hours=rng.randint(0, 6)))
        if status == "COMPLETED":
            done = min(due + dt.timedelta(hours=rng.randint(-20, 6)), ANCHOR - dt.timedelta(hours=2))
            done = max(done, created + dt.timedelta(hours=1))
            modified = jitter(done)
        else:
            done = None
            modified = jitter(min(ANCHOR - dt.timedelta(hours=rng.randint(1, 30)), created + dt.timedelta(days=rng.randint(0, 3))))
            modified = max(modified, created)
        props = {
            "hs_createdate": iso(created),
            "hs_lastmodifieddate": iso(modified),
            "hs_object_id": tid,
            "hs_task_body": body if body else None,
            "hs_task_priority": prio,
            "hs_task_status": status,
            "hs_task_subject": subject,
            "hs_task_type": ttype,
            "hs_timestamp": iso(due),
            "hubspot_owner_id": OWNER_ID,
        }
        if done:
            props["hs_task_completion_date"] = iso(done)
        a = {}
        if cids:
            a.update(assoc("contacts", "task_to_contact", cids))
        if dids:
            a.update(assoc("deals", "task_to_deal", dids))
        TASK_ROWS.append(dict(id=tid, status=status, due=due, contacts=cids, deals=dids, created=created, modified=modified))
        out.append(crm(tid, props, created, modified, a))
    return out


def note_records():
    out = []
    for nid, t, body, cids, dids in NOTES:
        created = t + dt.timedelta(seconds=rng.randint(5, 600))
        modified = min(created + dt.timedelta(minutes=rng.randint(0, 30)), jitter(ANCHOR - dt.timedelta(minutes=2)))
        created = min(created, modified)
        props = {
            "hs_createdate": iso(created),
            "hs_lastmodifieddate": iso(modified),
            "hs_note_body": body,
            "hs_object_id": nid,
            "hs_timestamp": iso(t),
            "hubspot_owner_id": OWNER_ID,
        }
        a = {}
        if cids:
            a.update(assoc("contacts", "note_to_contact", cids))
        if dids:
            a.update(assoc("deals", "note_to_deal", dids))
        out.append(crm(nid, props, created, modified, a))
    return out


def pipeline_record():
    created = "2024-03-11T16:22:41.512Z"
    stages = [
        ("appointmentscheduled", "Appointment scheduled", "0.2", "false"),
        ("qualifiedtobuy", "Qualified to buy", "0.4", "false"),
        ("presentationscheduled", "Presentation scheduled", "0.6", "false"),
        ("decisionmakerboughtin", "Decision maker bought-in", "0.8", "false"),
        ("contractsent", "Contract sent", "0.9", "false"),
        ("closedwon", "Closed won", "1.0", "true"),
        ("closedlost", "Closed lost", "0.0", "true"),
    ]
    return {"results": [{
        "label": "Sales Pipeline", "displayOrder": 0, "id": "default",
        "stages": [{"label": label, "displayOrder": i, "metadata": {"isClosed": closed, "probability": p},
                    "id": sid, "createdAt": created, "updatedAt": created, "archived": False,
                    "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
                   for i, (sid, label, p, closed) in enumerate(stages)],
        "createdAt": created, "updatedAt": created, "archived": False,
    }]}


contacts_json = contact_records()
companies_json = company_records()
deals_json = deal_records()
tasks_json = task_records()
notes_json = note_records()
pipelines_json = pipeline_record()


def thread_resource(tb):
    return {"id": tb.id, "snippet": tb.messages[-1]["snippet"], "historyId": tb.history, "messages": tb.messages}


threads_json = [thread_resource(tb) for tb in THREADS]
large_json = [thread_resource(LARGE)]
drafts_json = DRAFTS
n_messages = sum(len(t["messages"]) for t in threads_json) + len(LARGE.messages)
profile_json = {
    "emailAddress": OPERATOR_EMAIL,
    "messagesTotal": n_messages + len(DRAFTS),
    "threadsTotal": len(threads_json) + 1 + sum(1 for k, _, _ in DRAFT_META if k == "new"),
    "historyId": PROFILE_HISTORY,
}


# ---------------------------------------------------------------------------------------------
# Write
# ---------------------------------------------------------------------------------------------

FILES = {
    "hubspot/contacts.json": ({"results": contacts_json}, 1),
    "hubspot/companies.json": ({"results": companies_json}, 1),
    "hubspot/deals.json": ({"results": deals_json}, 1),
    "hubspot/tasks.json": ({"results": tasks_json}, 1),
    "hubspot/notes.json": ({"results": notes_json}, 1),
    "hubspot/pipelines.json": (pipelines_json, 1),
    "gmail/profile.json": (profile_json, 1),
    "gmail/threads.json": (threads_json, 1),
    "gmail/threads-large.json": (large_json, None),
    "gmail/drafts.json": (drafts_json, 1),
}


def write_all():
    for rel, (obj, indent) in FILES.items():
        path = os.path.join(HERE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if indent is None:
            text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        else:
            text = json.dumps(obj, ensure_ascii=False, indent=indent)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text + "\n")


# ---------------------------------------------------------------------------------------------
# Self-check (mirrors CaseyOS' detection rules with the default [moves] configuration)
# ---------------------------------------------------------------------------------------------

# The exact records each deal/task scenario must flag (thread scenarios are checked against THREAD_PLAN).
EXPECT = {
    "stale": ["3005", "3006", "3007", "3008"],
    "closing": ["3001", "3002", "3003"],
    "closing_past": ["3004"],
    "changed": ["3009", "3010", "3011"],
    "overdue": ["4001", "4002", "4003", "4004", "4005"],
}


def parse_iso(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def check():
    loaded = {}
    for rel in FILES:
        with open(os.path.join(HERE, rel), encoding="utf-8") as f:
            loaded[rel] = json.load(f)
    contacts = loaded["hubspot/contacts.json"]["results"]
    companies = loaded["hubspot/companies.json"]["results"]
    deals = loaded["hubspot/deals.json"]["results"]
    tasks = loaded["hubspot/tasks.json"]["results"]
    notes = loaded["hubspot/notes.json"]["results"]
    threads = loaded["gmail/threads.json"]
    large = loaded["gmail/threads-large.json"]
    drafts = loaded["gmail/drafts.json"]
    stages = {s["id"]: s for s in loaded["hubspot/pipelines.json"]["results"][0]["stages"]}

    # Sizes.
    assert len(contacts) >= 48 and len(companies) >= 18 and len(deals) >= 16, "record counts"
    assert len(tasks) >= 14 and len(notes) >= 20 and len(threads) >= 70 and 6 <= len(drafts) <= 8, "counts"
    assert len(large) == 1 and len(large[0]["messages"]) == 2000, "large thread"
    assert os.path.getsize(os.path.join(HERE, "gmail/threads-large.json")) < 2_000_000, "large thread size"
    stage_counts = {}
    for d in deals:
        stage_counts[d["properties"]["dealstage"]] = stage_counts.get(d["properties"]["dealstage"], 0) + 1
    assert set(stage_counts) == set(stages), stage_counts
    assert stage_counts["closedwon"] >= 2 and stage_counts["closedlost"] >= 1

    # Wire shape: ids, property values are strings or null, associations resolve.
    ids = {"contacts": {c["id"] for c in contacts}, "companies": {c["id"] for c in companies},
           "deals": {d["id"] for d in deals}}
    for kind, recs, lo in [("contacts", contacts, 1001), ("companies", companies, 2001), ("deals", deals, 3001),
                           ("tasks", tasks, 4001), ("notes", notes, 5001)]:
        seen = set()
        for o in recs:
            assert o["id"].isdigit() and lo <= int(o["id"]) < lo + 1000 and o["id"] not in seen, o["id"]
            seen.add(o["id"])
            assert o["properties"]["hs_object_id"] == o["id"]
            assert o["archived"] is False and isinstance(o["createdAt"], str) and isinstance(o["updatedAt"], str)
            for k, v in o["properties"].items():
                assert v is None or isinstance(v, str), (kind, o["id"], k)
            for to_kind, page in o.get("associations", {}).items():
                for a in page["results"]:
                    assert a["id"] in ids[to_kind], (kind, o["id"], to_kind, a["id"])
                    assert a["type"].startswith(kind[:-1] + "_to_" + to_kind[:-1].replace("companie", "company")), a
    for c in contacts:
        e = c["properties"]["email"]
        assert e is None or e.endswith(".example")
    for c in companies:
        assert c["properties"]["domain"].endswith(".example")

    # Timestamps: nothing after the anchor except task due dates and open deals' close dates.
    future_ok = {("tasks", "hs_timestamp"), ("deals", "closedate")}
    for kind, recs in [("contacts", contacts), ("companies", companies), ("deals", deals), ("tasks", tasks), ("notes", notes)]:
        for o in recs:
            for k in ["createdAt", "updatedAt"]:
                assert parse_iso(o[k]) <= ANCHOR, (kind, o["id"], k)
            for k, v in o["properties"].items():
                if v and len(v) == 24 and v.endswith("Z") and v[4] == "-" and v[10] == "T":
                    t = parse_iso(v)
                    if (kind, k) in future_ok:
                        if kind == "deals" and stages[o["properties"]["dealstage"]]["metadata"]["isClosed"] == "true":
                            assert t <= ANCHOR
                        continue
                    assert t <= ANCHOR, (kind, o["id"], k, v)
            assert parse_iso(o["createdAt"]) <= parse_iso(o["updatedAt"]), (kind, o["id"])

    # Gmail: thread ids, ordering, headers, References chains, bodies.
    all_ids = set()
    msgid_time = {}
    for t in threads + large:
        prev_time = None
        seen_msgids = []
        assert t["id"] == t["messages"][0]["id"]
        assert t["snippet"] == t["messages"][-1]["snippet"]
        assert t["historyId"] == str(max(int(m["historyId"]) for m in t["messages"]))
        for m in t["messages"]:
            assert m["threadId"] == t["id"], (t["id"], m["id"])
            assert len(m["id"]) == 16 and all(ch in "0123456789abcdef" for ch in m["id"]) and m["id"] not in all_ids
            all_ids.add(m["id"])
            tm = msg_time(m)
            assert tm <= ANCHOR and (prev_time is None or tm > prev_time), m["id"]
            prev_time = tm
            date_hdr = header_of(m, "Date")
            assert email.utils.parsedate_to_datetime(date_hdr) == tm.replace(microsecond=0), (m["id"], date_hdr)
            mid = header_of(m, "Message-ID")
            assert mid.startswith("<") and mid.endswith(".example>") and mid not in msgid_time
            msgid_time[mid] = tm
            irt = header_of(m, "In-Reply-To")
            if seen_msgids:
                assert irt == seen_msgids[-1], (t["id"], m["id"])
                refs = header_of(m, "References").split()
                assert refs[-1] == irt and refs[0] == seen_msgids[0]
                assert all(r in seen_msgids for r in refs)
                assert header_of(m, "Subject").startswith("Re: ")
            else:
                assert irt is None
            seen_msgids.append(mid)
            for h in ["From", "To", "Cc"]:
                for a in addr_list(header_of(m, h)):
                    assert a.endswith(".example"), a
            p = m["payload"]
            leaves = p["parts"] if p["mimeType"].startswith("multipart/") else [p]
            for lf in leaves:
                raw = base64.urlsafe_b64decode(lf["body"]["data"])
                assert lf["body"]["size"] == len(raw)
                raw.decode("utf-8")
            outbound = addr_list(header_of(m, "From"))[0] == OPERATOR_EMAIL
            assert ("SENT" in m["labelIds"]) == outbound and (("INBOX" in m["labelIds"]) != outbound)

    # Drafts.
    thread_ids = {t["id"] for t in threads + large}
    last_msg = {t["id"]: t["messages"][-1] for t in threads + large}
    reply_drafts = new_drafts = 0
    for d, (kind, cid, tid) in zip(drafts, DRAFT_META):
        m = d["message"]
        assert d["id"].startswith("r") and d["id"].lstrip("r-").isdigit()
        assert m["labelIds"] == ["DRAFT"] and msg_time(m) <= ANCHOR
        to = addr_list(header_of(m, "To"))
        assert to and to[0] in EMAIL_TO_CONTACT
        if kind == "reply":
            reply_drafts += 1
            assert m["threadId"] in thread_ids
            lm = last_msg[m["threadId"]]
            assert header_of(m, "In-Reply-To") == header_of(lm, "Message-ID")
            assert header_of(m, "Subject").startswith("Re: ") and msg_time(m) > msg_time(lm)
        else:
            new_drafts += 1
            assert m["threadId"] not in thread_ids and m["threadId"] == m["id"]

    # --- Detection, mirroring src/domain/detect.rs with the default thresholds. ---
    automated_labels = {"CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_SOCIAL", "CATEGORY_FORUMS", "SPAM", "TRASH"}
    automated_senders = ["noreply", "no-reply", "donotreply", "do-not-reply", "notifications", "newsletter", "mailer-daemon", "postmaster"]
    email_to_cid = {c["properties"]["email"]: c["id"] for c in contacts if c["properties"]["email"]}

    def classify(m):
        frm = addr_list(header_of(m, "From"))[0]
        outbound = "SENT" in m["labelIds"] or frm == OPERATOR_EMAIL
        local = frm.split("@")[0]
        automated = not outbound and (any(l in automated_labels for l in m["labelIds"])
                                      or any(s in local for s in automated_senders)
                                      or header_of(m, "List-Unsubscribe") is not None)
        return frm, outbound, automated

    last_exchange, emailed = {}, set()
    ri, fu, auto_threads = [], [], 0
    for t in threads + large:
        for m in t["messages"]:
            frm, outbound, automated = classify(m)
            if automated:
                continue
            people = addr_list(header_of(m, "To")) + addr_list(header_of(m, "Cc")) if outbound else [frm]
            for p in people:
                last_exchange[p] = max(last_exchange.get(p, EPOCH), msg_time(m))
                if outbound:
                    emailed.add(p)
        last = t["messages"][-1]
        frm, outbound, automated = classify(last)
        lt = msg_time(last)
        if automated:
            auto_threads += 1
            assert 1 / 24 <= age_days(lt) <= 6
        if not outbound:
            if automated or age_days(lt) > 30:
                continue
            assert frm in email_to_cid, frm
            assert 1 / 24 <= age_days(lt) <= 6, (t["id"], age_days(lt))
            ri.append(t["id"])
        else:
            b = business_days_between(lt, ANCHOR)
            if b < 3 or age_days(lt) > 30:
                continue
            assert 3 <= b <= 12 and addr_list(header_of(last, "To"))[0] in email_to_cid
            fu.append(t["id"])
    settled_recent = sum(1 for t in threads if classify(t["messages"][-1])[1] and age_days(msg_time(t["messages"][-1])) <= 2)
    settled_old = sum(1 for t in threads if age_days(msg_time(t["messages"][-1])) > 40)
    assert len(ri) == 1 + sum(1 for tb in THREADS if tb.kind == "ri") and len(ri) - 1 >= 10, ri
    assert len(fu) == sum(1 for tb in THREADS if tb.kind == "fu") >= 6, fu
    assert auto_threads >= 4 and settled_recent + settled_old >= 20

    contact_by_id = {c["id"]: c for c in contacts}
    notes_by_deal = {}
    for n in notes:
        for a in n.get("associations", {}).get("deals", {"results": []})["results"]:
            t = parse_iso(n["properties"]["hs_timestamp"])
            notes_by_deal[a["id"]] = max(notes_by_deal.get(a["id"], EPOCH), t)
    stale, closing, closing_past, changed = [], [], [], []
    amounts = []
    for d in deals:
        p = d["properties"]
        amounts.append(float(p["amount"]))
        if stages[p["dealstage"]]["metadata"]["isClosed"] == "true":
            continue
        cands = [parse_iso(p["notes_last_updated"]), notes_by_deal.get(d["id"], EPOCH)]
        contact_emails = []
        for a in d["associations"]["contacts"]["results"]:
            e = contact_by_id[a["id"]]["properties"]["email"]
            if e:
                contact_emails.append(e)
                cands.append(last_exchange.get(e, EPOCH))
        last = max(cands)
        if age_days(last) >= 14:
            stale.append(d["id"])
            assert 15 <= age_days(parse_iso(p["notes_last_updated"])) <= 60
            assert all(age_days(last_exchange.get(e, EPOCH)) > 14 for e in contact_emails)
        dtc = -age_days(parse_iso(p["closedate"]))
        if -30 <= dtc <= 7:
            (closing if dtc >= 0 else closing_past).append(d["id"])
            if dtc < 0:
                assert 2 <= -dtc <= 10
        entered = parse_iso(p["hs_v2_date_entered_current_stage"])
        assert entered >= parse_iso(p["createdate"])
        if age_days(entered) <= 3 and entered <= ANCHOR:
            changed.append(d["id"])
    assert len(stale) >= 3 and len(closing) >= 3 and len(closing_past) >= 1 and len(changed) >= 3
    assert sorted(stale) == EXPECT["stale"] and sorted(closing) == EXPECT["closing"], (stale, closing)
    assert sorted(closing_past) == EXPECT["closing_past"] and sorted(changed) == EXPECT["changed"], changed
    assert min(amounts) >= 6000 and max(amounts) <= 180000 and len(set(amounts)) == len(amounts)

    new_leads = []
    lead_stages = {"subscriber", "lead", "marketingqualifiedlead"}
    for c in contacts:
        p = c["properties"]
        e = p["email"]
        if not e or e in emailed:
            continue
        created = parse_iso(p["createdate"])
        conv = parse_iso(p["recent_conversion_date"]) if p["recent_conversion_date"] else None
        created_recent = age_days(created) <= 14
        form_recent = conv is not None and age_days(conv) <= 14
        if form_recent or (p["lifecyclestage"] in lead_stages and created_recent):
            new_leads.append(c["id"])
            assert p["lifecyclestage"] in ("lead", "marketingqualifiedlead") and age_days(created) <= 7 and conv
            assert e not in last_exchange and all(e not in (header_of(d["message"], "To") or "") for d in drafts)
    assert sorted(new_leads) == sorted(NEW_LEADS) and len(new_leads) >= 4, new_leads

    overdue = [t["id"] for t in tasks if t["properties"]["hs_task_status"] != "COMPLETED"
               and parse_iso(t["properties"]["hs_timestamp"]) < ANCHOR]
    for tid in overdue:
        t = next(x for x in tasks if x["id"] == tid)
        assert t["properties"]["hs_task_status"] in ("NOT_STARTED", "IN_PROGRESS")
        assert 1 <= age_days(parse_iso(t["properties"]["hs_timestamp"])) <= 15
    future = [t for t in tasks if parse_iso(t["properties"]["hs_timestamp"]) > ANCHOR]
    completed = [t for t in tasks if t["properties"]["hs_task_status"] == "COMPLETED"]
    assert len(overdue) >= 4 and len(future) >= 4 and len(completed) >= 4
    assert sorted(overdue) == EXPECT["overdue"], overdue

    # Hostile records present.
    subjects = [header_of(m, "Subject") for t in threads for m in t["messages"]]
    assert any("\x1b[31m" in s and "\x1b]0;" in s and "\x1b]8;;" in s for s in subjects)
    assert any("🚀" in s for s in subjects)
    assert any("\x1b" in c["properties"]["jobtitle"] for c in contacts)
    assert any("\u202e" in (c["properties"]["company"] or "") for c in contacts)

    # Determinism guard: no gmail id reused across drafts and threads.
    assert len(set(USED_GMAIL_IDS)) == len(USED_GMAIL_IDS)

    return {
        "contacts": len(contacts), "companies": len(companies), "deals": len(deals), "tasks": len(tasks),
        "notes": len(notes), "threads": len(threads), "messages": sum(len(t["messages"]) for t in threads),
        "large": len(large[0]["messages"]), "drafts": len(drafts), "reply_drafts": reply_drafts,
        "new_drafts": new_drafts, "ri": len(ri), "fu": len(fu), "settled_recent": settled_recent,
        "settled_old": settled_old, "automated": auto_threads, "stale": sorted(stale), "closing": sorted(closing),
        "closing_past": sorted(closing_past), "changed": sorted(changed), "new_leads": sorted(new_leads),
        "overdue": len(overdue), "future": len(future), "completed": len(completed),
        "open_deals": sum(1 for d in deals if stages[d["properties"]["dealstage"]]["metadata"]["isClosed"] == "false"),
    }


def main():
    write_all()
    s = check()
    print(
        f"CaseyOS demo data (anchor {iso(ANCHOR)}): {s['contacts']} contacts, {s['companies']} companies, "
        f"{s['deals']} deals ({s['open_deals']} open), {s['tasks']} tasks, {s['notes']} notes, {s['threads']} threads "
        f"with {s['messages']} messages plus one {s['large']}-message thread, {s['drafts']} drafts. "
        f"Scenarios at the anchor: reply_inbound {s['ri']} threads (incl. the large one, "
        f"{s['reply_drafts']} with a reply draft); follow_up {s['fu']}; settled {s['settled_recent']} recent + "
        f"{s['settled_old']} old; automated {s['automated']}; approve_draft {s['new_drafts']} new-outreach drafts; "
        f"stale_deal {len(s['stale'])} ({', '.join(s['stale'])}); closing_soon {len(s['closing'])} upcoming "
        f"({', '.join(s['closing'])}) + {len(s['closing_past'])} past ({', '.join(s['closing_past'])}); "
        f"new_lead {len(s['new_leads'])} ({', '.join(s['new_leads'])}); overdue_task {s['overdue']} "
        f"(+{s['future']} future, {s['completed']} completed); stage_changed {len(s['changed'])} "
        f"({', '.join(s['changed'])})."
    )


if __name__ == "__main__":
    main()
